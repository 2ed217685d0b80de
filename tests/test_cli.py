"""The `tinygrad-scalar` command line, in a subprocess and in-process through main(argv)."""

import math
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tinygrad_scalar import cli
from tinygrad_scalar.cli import commands
from tinygrad_scalar.nn import MLP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd, env=None, **options):
    """Run `python -m tinygrad_scalar ARGS` in a fresh process (`env` adds variables,
    `options` go to subprocess.run)."""
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_scalar", *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
        capture_output=True,
        text=True,
        **{"timeout": 300, **options},
    )


def has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of `tinygrad-scalar demo` for the whole module (it is the slow part)."""
    cwd = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--no-progress", cwd=cwd)
    return result, cwd / "tinygrad-scalar-demo"


def test_demo_reaches_97_percent_and_says_so(demo):
    result, _ = demo
    assert result.returncode == 0, result.stderr
    match = re.search(r"final accuracy: ([\d.]+)% \((\d+)/100 points\)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) >= 97.0
    assert int(match.group(2)) >= 97


def test_demo_writes_model_and_pictures(demo):
    result, out = demo
    expected = {"model.json"}
    if has_matplotlib():
        expected |= {"loss.png", "decision_boundary.png"}
    assert expected <= {p.name for p in out.iterdir()}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left
    model = MLP.load(out / "model.json")
    assert model.sizes == [16, 16, 1] and model.num_parameters() == 337
    if has_matplotlib():
        assert (out / "loss.png").read_bytes()[:8] == PNG_MAGIC
        assert (out / "decision_boundary.png").read_bytes()[:8] == PNG_MAGIC
    for name in expected:
        assert f"wrote {Path('tinygrad-scalar-demo') / name}" in result.stdout


def test_demo_draws_one_neuron_or_says_why_not(demo):
    result, out = demo
    svg = out / "neuron.svg"
    if svg.exists():
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        text = svg.read_text()
        # the neuron's two labelled inputs, counted from 0 like its weights w.0, w.1
        assert ">x0<" in text and ">x1<" in text and ">x2<" not in text
    else:
        assert "note: skipped neuron.svg" in result.stdout


def test_demo_is_deterministic_for_a_seed(demo, tmp_path):
    result, out = demo
    assert cli.main(["demo", "--no-progress", "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "model.json").read_text() == (out / "model.json").read_text()


def test_predict_prints_the_models_output_and_class(demo, capsys):
    _, out = demo
    model = MLP.load(out / "model.json")
    for x in ([0.0, 1.0], [1.0, -0.5], [-0.25, 0.5]):
        assert cli.main(["predict", str(out / "model.json"), *map(str, x)]) == 0
        printed = capsys.readouterr().out.splitlines()
        score = model(x).data
        class_1 = 1.0 / (1.0 + math.exp(-score))  # the softmax of (0, score): see predict
        label = int(score > 0)
        assert printed == [
            f"output: {score:.6g}",
            f"probabilities: class 0 {1.0 - class_1:.4f}, class 1 {class_1:.4f}",
            f"class: {label} (probability {[1.0 - class_1, class_1][label]:.4f})",
        ]
        assert (class_1 > 0.5) == (label == 1)


def test_predict_on_a_sigmoid_model_prints_its_output_as_the_probability(tmp_path, capsys):
    model = MLP(2, [3, 1], output="sigmoid", seed=1)
    model.save(tmp_path / "m.json")
    assert cli.main(["predict", str(tmp_path / "m.json"), "0.5", "-1"]) == 0
    probability = model([0.5, -1.0]).data  # no second sigmoid on top
    label = int(probability > 0.5)
    assert capsys.readouterr().out.splitlines() == [
        f"output: {probability:.6g}",
        f"probabilities: class 0 {1.0 - probability:.4f}, class 1 {probability:.4f}",
        f"class: {label} (probability {max(probability, 1.0 - probability):.4f})",
    ]


def test_predict_in_a_subprocess_accepts_negative_numbers(demo):
    _, out = demo
    result = run_cli("predict", out / "model.json", "-0.5", "0.25", cwd=out)
    assert result.returncode == 0, result.stderr
    score = MLP.load(out / "model.json")([-0.5, 0.25]).data
    assert result.stdout.splitlines()[0] == f"output: {score:.6g}"


def test_predict_on_a_cross_entropy_model_prints_class_probabilities(tmp_path, capsys):
    # Three linear outputs, as `train --loss cross_entropy` makes: they are logits.
    model = MLP(2, [3], seed=0)
    for neuron, weights in zip(model.layers[0].neurons, [(4.0, 1.5), (-2.0, 0.5), (0.3, -6.0)]):
        (neuron.w[0].data, neuron.w[1].data), neuron.b.data = weights, 0.25
    model.save(tmp_path / "m.json")
    assert cli.main(["predict", str(tmp_path / "m.json"), "1", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    logits = [v.data for v in model([1.0, 2.0])]
    exps = [math.exp(z - max(logits)) for z in logits]
    probabilities = [e / sum(exps) for e in exps]
    assert lines == [
        "probabilities: class 0 {:.4f}, class 1 {:.4f}, class 2 {:.4f}".format(*probabilities),
        f"class: 0 (probability {probabilities[0]:.4f})",
    ]
    printed = [float(part.split()[-1]) for part in lines[0].split(": ")[1].split(", ")]
    assert sum(printed) == pytest.approx(1.0, abs=2e-4)  # probabilities, not raw logits


def test_predict_on_a_softmax_model_prints_its_own_probabilities(tmp_path, capsys):
    model = MLP(2, [4], output="softmax", seed=3)
    model.save(tmp_path / "m.json")
    assert cli.main(["predict", str(tmp_path / "m.json"), "0.5", "-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    probabilities = [v.data for v in model([0.5, -1.0])]  # no second softmax on top
    best = probabilities.index(max(probabilities))
    assert lines[0] == "probabilities: " + ", ".join(
        f"class {k} {p:.4f}" for k, p in enumerate(probabilities)
    )
    assert lines[1] == f"class: {best} (probability {probabilities[best]:.4f})"


# --- train ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset, loss, width", [("moons", "hinge", 1), ("spiral", "cross_entropy", 3)]
)
def test_train_prints_accuracy_and_writes_the_model(tmp_path, capsys, dataset, loss, width):
    out = tmp_path / "run"
    argv = ["train", "--dataset", dataset, "--layers", "8", "--epochs", "5", "--samples", "60",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    assert f"({loss} loss, adam)" in stdout
    assert re.search(r"train accuracy: [\d.]+% \(\d+/48 points\)", stdout)
    assert re.search(r"test accuracy: [\d.]+% \(\d+/12 points\)", stdout)
    model = MLP.load(out / "model.json")
    assert model.sizes == [8, width]
    if has_matplotlib():
        assert (out / "decision_boundary.png").read_bytes()[:8] == PNG_MAGIC


def test_train_with_compile_matches_eager(tmp_path, capsys):
    pytest.importorskip("numpy")
    argv = ["train", "--layers", "4", "--epochs", "3", "--samples", "40", "--no-progress",
            "--optimizer", "sgd", "--lr", "0.5", "--batch-size", "8"]  # fmt: skip
    assert cli.main([*argv, "--out", str(tmp_path / "eager")]) == 0
    assert cli.main([*argv, "--compile", "--out", str(tmp_path / "compiled")]) == 0
    eager = MLP.load(tmp_path / "eager" / "model.json").state_dict()
    compiled = MLP.load(tmp_path / "compiled" / "model.json").state_dict()
    assert list(compiled.values()) == pytest.approx(list(eager.values()), rel=1e-9, abs=1e-12)


def test_train_into_an_existing_folder_replaces_its_files_only(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.json").write_text("old")
    (out / "notes.txt").write_text("mine")
    argv = ["train", "--layers", "2", "--epochs", "1", "--samples", "20", "--no-progress"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert MLP.load(out / "model.json").sizes == [2, 1]
    assert (out / "notes.txt").read_text() == "mine"


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    plot = pytest.importorskip("tinygrad_scalar.plot")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", "loss.png")

    monkeypatch.setattr(plot, "plot_history", broken)
    out = tmp_path / "run"
    argv = ["train", "--layers", "2", "--epochs", "1", "--samples", "20", "--no-progress"]
    assert cli.main([*argv, "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        "tinygrad-scalar: error: cannot write loss.png: No space left on device"
    )
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging copy


# --- bad input --------------------------------------------------------------------------------


BAD_TRAIN = [
    (["--dataset", "mnist"], "--dataset"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-2"], "--epochs"),
    (["--epochs", "ten"], "--epochs"),
    (["--layers", "16,x"], "--layers"),
    (["--layers", "16,,4"], "--layers"),
    (["--layers", "0"], "--layers"),
    (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--loss", "l1"], "--loss"),
    (["--optimizer", "rmsprop"], "--optimizer"),
    (["--dataset", "spiral", "--loss", "hinge"], "--loss hinge"),
    (["--dataset", "blobs", "--classes", "1"], "--classes"),
    (["--test-fraction", "1.5"], "--test-fraction"),
    (["--bogus"], "--bogus"),
    (["--layers", "²"], "--layers"),  # a digit to isdigit(), not to int()
    (["--samples", "1000000"], "--samples must be at most 100,000"),
    (["--layers", "1000,1000"], "1,005,001 parameters"),
    (["--dataset", "blobs", "--classes", "1000"], "--classes must be at most 100"),
]

# Options with a type function of ours, and values none of them accept.
TYPED_OPTIONS = ["--samples", "--noise", "--classes", "--layers", "--lr", "--epochs",
                 "--batch-size", "--l2", "--test-fraction", "--seed"]  # fmt: skip
HOSTILE_VALUES = ["²", "", "nan", "1e999", "9" * 5000, "1_0x", "\u0661.\u0662e"]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
@pytest.mark.parametrize("option", TYPED_OPTIONS)
def test_type_errors_name_the_option_never_a_function(tmp_path, capsys, option, value):
    status = cli.main(["train", "--no-progress", "--out", str(tmp_path / "run"), option, value])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, 2, f"argument {option}: must be ")
    assert not re.search(r"invalid \S+ value", err)  # argparse's wording with a function name
    assert len(err) < 300  # a 5000-digit value is cut short
    assert list(tmp_path.iterdir()) == []


def assert_one_line_error(status, err, expected_status, mentions):
    assert status == expected_status
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinygrad-scalar: error: ")
    assert mentions in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("extra, mentions", BAD_TRAIN)
def test_bad_train_options_exit_2_with_one_line_and_no_files(tmp_path, capsys, extra, mentions):
    out = tmp_path / "run"
    status = cli.main(["train", "--no-progress", "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, mentions)
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["train", "demo"])
def test_an_out_path_that_is_a_file_is_refused(tmp_path, capsys, command):
    (tmp_path / "taken").write_text("keep me")
    for out in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        status = cli.main([command, "--no-progress", "--out", str(out)])
        assert_one_line_error(status, capsys.readouterr().err, 2, "--out")
    assert (tmp_path / "taken").read_text() == "keep me"


@pytest.mark.parametrize("command", ["train", "demo"])
def test_an_empty_out_is_refused_before_training(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    status = cli.main([command, "--no-progress", "--out", ""])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, "--out must name a folder, got ''")
    assert captured.out == ""  # no "training ..." line: refused before any work
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_refuses_new_entries_is_refused_before_training(capsys):
    # /proc looks writable to root (os.access says yes) but refuses every new entry; staging
    # beside it, in /, would have failed only at the end with a cross-device rename
    before = sorted(os.listdir("/"))
    status = cli.main(["train", "--no-progress", "--out", "/proc"])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, "--out '/proc': cannot write there")
    assert captured.out == ""
    assert sorted(os.listdir("/")) == before


def test_a_dangling_symbolic_link_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "run").symlink_to(tmp_path / "gone")
    status = cli.main(["train", "--no-progress", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, "is a symbolic link to")
    assert captured.out == ""
    assert os.listdir(tmp_path) == ["run"]


def test_a_file_name_taken_by_a_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "run" / "model.json").mkdir(parents=True)
    status = cli.main(["train", "--no-progress", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, "model.json' is a folder")
    assert captured.out == ""
    assert os.listdir(tmp_path / "run") == ["model.json"]


def run_unprivileged(args, cwd):
    """run_cli as a user without root's power to ignore permissions (nobody, when root)."""
    if os.geteuid() != 0:
        return run_cli(*args, cwd=cwd)
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no unprivileged user to run as")
    try:
        return run_cli(
            *args,
            cwd=cwd,
            env={"HOME": str(cwd), "MPLCONFIGDIR": str(cwd / ".mpl")},
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
        )
    except PermissionError:  # e.g. an interpreter under /root
        pytest.skip("this Python cannot be run by the unprivileged user")


def test_an_existing_out_in_a_read_only_folder_is_written_in_place():
    # world-traversable, unlike pytest's tmp_path, so that `nobody` can reach it
    base = Path(tempfile.mkdtemp(prefix="tinygrad-scalar-test-"))
    try:
        base.chmod(0o755)
        (base / ".mpl").mkdir(mode=0o777)
        (base / ".mpl").chmod(0o777)
        out = base / "read-only" / "run"
        out.mkdir(parents=True)
        out.chmod(0o777)
        out.parent.chmod(0o555)  # the user may write in run/ but not beside it
        argv = ["train", "--layers", "2", "--epochs", "1", "--samples", "20", "--no-progress"]
        result = run_unprivileged([*argv, "--out", "read-only/run"], cwd=base)
        assert result.returncode == 0, result.stderr
        assert "model.json" in os.listdir(out)
        assert not [name for name in os.listdir(out) if name.startswith(".")]
        assert MLP.load(out / "model.json").sizes == [2, 1]
    finally:
        (base / "read-only").chmod(0o755)
        shutil.rmtree(base)


def test_a_diverging_run_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--lr", "1e300", "--epochs", "2", "--samples", "10", "--no-progress"]
    status = cli.main([*argv, "--out", str(out)])
    assert_one_line_error(status, capsys.readouterr().err, 2, "training diverged")
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_training_removes_the_staging_folder(tmp_path):
    argv = ["train", "--epochs", "100000", "--samples", "40", "--layers", "4", "--no-progress",
            "--out", "run"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_scalar", *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()  # printed once training has started
        assert first_line.startswith("training "), first_line
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143
    assert err == "tinygrad-scalar: terminated\n"
    assert list(tmp_path.iterdir()) == []


def corrupt_files(tmp_path):
    good = MLP(2, [2, 1], seed=0)
    good.save(tmp_path / "good.json")
    text = (tmp_path / "good.json").read_text()
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "wrong.json").write_text('{"format": "something else"}')
    (tmp_path / "folder.json").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["missing.json", "1", "2"], "missing.json"),
        (["truncated.json", "1", "2"], "truncated.json"),
        (["binary.json", "1", "2"], "binary.json"),
        (["wrong.json", "1", "2"], "wrong.json"),
        (["good.json", "1"], "takes 2 inputs, got 1"),
        (["good.json", "1", "2", "3"], "takes 2 inputs, got 3"),
        (["good.json", "1", "abc"], "x1 must be a number, got 'abc'"),
        (["good.json", "inf", "0"], "x0 must be a finite number"),
        (["good.json", "0", "nan"], "x1 must be a finite number"),
        (["good.json", "1e999", "0"], "x0 must be a finite number"),
        (["folder.json", "1", "2"], "folder.json"),
    ],
)
def test_bad_predict_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, args, mentions):
    monkeypatch.chdir(corrupt_files(tmp_path))
    status = cli.main(["predict", *args])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, 2, mentions)
    assert captured.out == ""


def test_thousands_of_predict_inputs_give_a_short_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(corrupt_files(tmp_path))
    status = cli.main(["predict", "good.json", *["1"] * 5000])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, 2, "takes 2 inputs, got 5000")
    assert len(err) < 200


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    corrupt_files(tmp_path)
    for args, mentions in [
        (["predict", "truncated.json", "1", "2"], "truncated.json"),
        (["train", "--epochs", "-1", "--out", "run"], "--epochs"),
        (["frobnicate"], "frobnicate"),
    ]:
        result = run_cli(*args, cwd=tmp_path)
        assert_one_line_error(result.returncode, result.stderr, 2, mentions)
    assert not (tmp_path / "run").exists()


def test_keyboard_interrupt_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "run_predict", interrupted)
    assert cli.main(["predict", "m.json", "1"]) == 130
    assert capsys.readouterr().err == "tinygrad-scalar: interrupted\n"


def test_every_subcommand_reports_errors_with_one_prefix(capsys):
    assert cli.main(["graph", "x +", "x=1"]) == 2
    assert cli.main(["train", "--epochs", "0"]) == 2
    graph_error, train_error = capsys.readouterr().err.splitlines()
    assert graph_error.startswith("tinygrad-scalar: error: ")
    assert train_error.startswith("tinygrad-scalar: error: ")


def test_help_and_version_exit_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tinygrad-scalar ")


def test_graph_subcommand_is_registered(capsys):
    assert cli.main(["graph", "x*y + x", "x=2", "y=3"]) == 0
    out = capsys.readouterr().out
    assert "df/dx = 4" in out and "df/dy = 2" in out


def test_console_script_is_installed():
    script = shutil.which("tinygrad-scalar", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed with its console script here")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("tinygrad-scalar ")


def test_a_4000_digit_layer_width_gives_a_short_message(tmp_path, capsys):
    huge = "9" * 4000  # int() still takes it (Python's limit is 4300 digits)
    status = cli.main(["train", "--layers", f"3,{huge}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, 2, "--layers '3,999")
    assert "10^4000 parameters" in err and len(err) < 300
    assert not (tmp_path / "run").exists()


def test_a_long_out_path_is_quoted_short(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = str(blocker / ("d" * 3000))
    status = cli.main(["train", "--out", out])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, 2, "is not a folder")
    assert len(err) < 400


@pytest.mark.parametrize("model", ["/dev/zero", "/dev/urandom", "pipe", "big.json"])
def test_predict_refuses_devices_pipes_and_huge_files_at_once(tmp_path, model):
    if model.startswith("/dev/") and not os.path.exists(model):
        pytest.skip(f"{model} does not exist here")
    if model == "pipe":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes on this system")
        os.mkfifo(tmp_path / "pipe")  # nobody writes: opening it for reading would block
    with open(tmp_path / "big.json", "wb") as file:
        file.truncate(2**30)  # a sparse 1 GiB file
    # the timeout turns a hang (a pipe) or a read to the end of /dev/zero into a failure
    result = run_cli("predict", model, "0.5", "-0.25", cwd=tmp_path, timeout=60)
    assert_one_line_error(result.returncode, result.stderr, 2, f"cannot read model file '{model}'")
    expected = "more than the 64 MiB limit" if model == "big.json" else "not a regular file"
    assert expected in result.stderr


TINY_TRAIN = ["train", "--layers", "2", "--epochs", "1", "--samples", "20", "--no-progress"]


def test_train_over_a_private_model_keeps_it_private(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.json").write_text("old")
    os.chmod(tmp_path / "run" / "model.json", 0o600)
    assert cli.main([*TINY_TRAIN, "--out", str(tmp_path / "run")]) == 0
    assert MLP.load(tmp_path / "run" / "model.json").sizes == [2, 1]
    assert os.stat(tmp_path / "run" / "model.json").st_mode & 0o777 == 0o600


def test_train_over_a_read_only_model_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.json").write_text("old")
    os.chmod(tmp_path / "run" / "model.json", 0o444)
    status = cli.main([*TINY_TRAIN, "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert_one_line_error(
        status, captured.err, 2, "'model.json': the file is read-only (mode 0444)"
    )
    assert captured.out == ""  # no training
    assert os.listdir(tmp_path / "run") == ["model.json"]
    assert (tmp_path / "run" / "model.json").read_text() == "old"


def test_a_full_disk_during_train_names_the_model_in_out_not_the_staging_folder(
    tmp_path, monkeypatch, capsys
):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    out = tmp_path / "run"
    assert cli.main([*TINY_TRAIN, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"tinygrad-scalar: error: cannot write model file {out / 'model.json'}:"
        " No space left on device\n"
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("option", ["--help", "--version"])
@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_help_and_version_to_a_full_device_fail_and_say_so(tmp_path, option, unbuffered):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "tinygrad_scalar", option],
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED=unbuffered),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    err = result.stderr
    assert result.returncode == 1
    assert (
        err == "tinygrad-scalar: error: cannot write to standard output: No space left on device\n"
    )


@pytest.mark.parametrize(
    "extra, cause",
    [
        (["--noise", "1e308"], "(the data overflowed: --noise 1e+308 made points infinite;"),
        (["--noise", "1e200", "--loss", "mse"], "(the data overflowed: the loss at the initial"),
        (["--l2", "1e308"], "(the L2 penalty overflowed: --l2 1e+308 times the initial sum"),
        (["--lr", "1e300"], "(try a smaller learning rate than --lr 1e+300)"),
    ],
)
def test_a_diverging_run_names_the_setting_that_overflowed(tmp_path, capsys, extra, cause):
    argv = ["train", "--epochs", "2", "--samples", "20", "--no-progress", *extra]
    status = cli.main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, 2, cause)
    assert ("learning rate" in err) == ("--lr" in extra)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_final_loss_is_printed_in_fixed_precision(tmp_path, capsys):
    # points near 1e100 give an mse near 1e199: finite, and Adam's steps stay finite
    argv = ["train", "--loss", "mse", "--noise", "1e100", "--epochs", "1", "--samples", "20"]
    assert cli.main([*argv, "--no-progress", "--out", str(tmp_path / "run")]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("final loss")]
    assert re.fullmatch(r"final loss: \d\.\d{5}e\+1\d\d", line), line

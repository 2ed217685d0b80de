"""Every writer refuses a target that exists and is not a regular file.

Run as root (as CI and many containers are), a save that renames its temporary file over a
device node, a named pipe or a socket replaces that node: saving a model to a copy of
/dev/null would have left a regular file where the device was. Each writer must instead
refuse, in one line naming the path and what it is, before any work; a symbolic link to a
regular file is followed as before.

The devices here are made with mknod in a temporary folder: no test touches the real
/dev/null or any other system file.
"""

from __future__ import annotations

import os
import re
import socket
import stat

import pytest

from tinygrad_scalar import Value, cli
from tinygrad_scalar._files import NotARegularFile, atomic_write, check_writable
from tinygrad_scalar.nn import MLP
from tinygrad_scalar.train import History

KINDS = {
    "device": "a character device",
    "fifo": "a named pipe (FIFO)",
    "socket": "a socket",
    "folder": "a folder",
}


@pytest.fixture
def make_node(tmp_path, monkeypatch):
    """make_node(kind, name) puts a `kind` at tmp_path/name and returns its relative path
    (the working folder is tmp_path, so a socket's path stays under the 108-byte limit)."""
    monkeypatch.chdir(tmp_path)
    sockets = []

    def make(kind: str, name: str) -> str:
        if kind == "device":
            if os.geteuid() != 0 or not hasattr(os, "mknod"):
                pytest.skip("making a device node needs root")
            # the same numbers as /dev/null (1, 3), but a node of our own in tmp_path
            os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        elif kind == "fifo":
            if not hasattr(os, "mkfifo"):
                pytest.skip("no named pipes on this system")
            os.mkfifo(name)
        elif kind == "socket":
            if not hasattr(socket, "AF_UNIX"):
                pytest.skip("no Unix sockets on this system")
            server = socket.socket(socket.AF_UNIX)
            server.bind(name)
            sockets.append(server)
        else:
            os.mkdir(name)
        return name

    yield make
    for server in sockets:
        server.close()


def node_kind(path: str) -> str:
    mode = os.lstat(path).st_mode
    for kind, test in (
        ("device", stat.S_ISCHR),
        ("fifo", stat.S_ISFIFO),
        ("socket", stat.S_ISSOCK),
        ("folder", stat.S_ISDIR),
        ("file", stat.S_ISREG),
    ):
        if test(mode):
            return kind
    return "other"


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_model(path):
    MLP(2, [1], seed=0).save(path)


def write_atomically(path):
    with atomic_write(path) as file:
        file.write(b"data")


def save_graph(path):
    from tinygrad_scalar.viz import draw

    draw(Value(2.0) * 3).save(path)


def save_explorer(path):
    from tinygrad_scalar.viz import explore

    explore(Value(2.0) * 3).save(path)


def save_loss_plot(path):
    if not has_matplotlib():
        pytest.skip("matplotlib is not installed")
    from tinygrad_scalar.plot import plot_history

    history = History()
    history.train_loss += [1.0, 0.5]
    plot_history(history, path)


def save_decision_boundary(path):
    if not has_matplotlib():
        pytest.skip("matplotlib is not installed")
    from tinygrad_scalar.plot import plot_decision_boundary

    plot_decision_boundary(MLP(2, [1], seed=0), [[0.0, 1.0], [1.0, 0.0]], [0, 1], path)


WRITERS = {
    "atomic_write": (write_atomically, "out.bin"),
    "check_writable": (check_writable, "out.bin"),
    "MLP.save": (save_model, "model.json"),
    "draw().save": (save_graph, "graph.dot"),
    "explore().save": (save_explorer, "page.html"),
    "plot_history": (save_loss_plot, "loss.svg"),
    "plot_decision_boundary": (save_decision_boundary, "boundary.png"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("writer", WRITERS)
def test_a_writer_refuses_what_is_not_a_regular_file(make_node, kind, writer):
    write, name = WRITERS[writer]
    path = make_node(kind, name)
    with pytest.raises(OSError) as caught:
        write(path)
    message = str(caught.value)
    assert f"{name}" in message and f"it is {KINDS[kind]}, not a regular file" in message
    assert "\n" not in message
    assert node_kind(path) == kind  # still there, still what it was
    assert sorted(os.listdir(".")) == [name]  # no temporary file left beside it


@pytest.mark.parametrize("kind", KINDS)
def test_the_error_is_not_a_regular_file_naming_the_path(make_node, kind):
    path = make_node(kind, "out.bin")
    with pytest.raises(NotARegularFile) as caught:
        write_atomically(path)
    assert str(caught.value) == f"cannot write 'out.bin': it is {KINDS[kind]}, not a regular file"
    assert caught.value.filename == "out.bin"


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_symbolic_link_to_a_device_is_refused_too(make_node, kind):
    make_node(kind, "node")
    os.symlink("node", "model.json")
    with pytest.raises(OSError, match=re.escape(f"it is {KINDS[kind]}")):
        save_model("model.json")
    assert node_kind("node") == kind and os.path.islink("model.json")


def test_a_symbolic_link_to_a_regular_file_is_still_written_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("real.json", "w") as file:
        file.write("old")
    os.symlink("real.json", "model.json")
    save_model("model.json")
    assert os.path.islink("model.json")
    with open("real.json") as file:
        assert '"format": "tinygrad_scalar"' in file.read()
    assert MLP.load("model.json").config() == MLP(2, [1], seed=0).config()


# --- the command line: exit status 2, one line, nothing trained ------------------------------


def assert_refused(capsys, status, mentions):
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tinygrad-scalar: error: ") and mentions in lines[0]
    assert captured.out == ""  # refused before any work: no value, no "training ..."


@pytest.mark.parametrize("kind", ["device", "fifo", "socket"])
def test_graph_output_refuses_what_is_not_a_regular_file(make_node, capsys, kind):
    path = make_node(kind, "graph.svg")
    status = cli.main(["graph", "x*2", "x=1", "-o", path])
    assert_refused(capsys, status, f"cannot write 'graph.svg': it is {KINDS[kind]}")
    assert node_kind(path) == kind


@pytest.mark.parametrize("command", ["train", "demo"])
@pytest.mark.parametrize("kind", ["device", "fifo", "socket"])
def test_out_files_that_are_not_regular_files_are_refused_before_training(
    make_node, capsys, command, kind
):
    os.mkdir("out")
    path = make_node(kind, os.path.join("out", "model.json"))
    status = cli.main([command, "--no-progress", "--out", "out"])
    assert_refused(capsys, status, f"cannot replace 'model.json': it is {KINDS[kind]}")
    assert node_kind(path) == kind
    assert os.listdir("out") == ["model.json"]


@pytest.mark.parametrize("command", ["train", "demo"])
@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_an_out_that_is_a_device_or_pipe_says_what_it_is(make_node, capsys, command, kind):
    path = make_node(kind, "out")
    status = cli.main([command, "--no-progress", "--out", path])
    assert_refused(capsys, status, f"--out 'out' is {KINDS[kind]}, not a folder")
    assert node_kind(path) == kind

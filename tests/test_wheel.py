"""The project as pip installs it from PyPI: a normal (non-editable) wheel, built here, installed
into a fresh virtualenv, where host apps with a ``hooks`` module of their own (a ``hooks.py``,
a ``hooks/`` package) load the plugin from the ``lms`` entry points and run an import.

The host contracts live in ``hooks/`` but install as ``lms_hooks``: installed as ``hooks``, the
app's own module would shadow them (the app's folder comes first on sys.path) and loading
would fail. The fresh virtualenv gets the plugin's dependencies from this one's site-packages
(everything but this project), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
#: The source folder of each installed top-level package.
PACKAGES = {"lms_hooks": "hooks", "lms_outcomes_plugin": "lms_outcomes_plugin"}

APP = '''
"""A host app with a module named ``hooks`` of its own, running one import over HTTP."""

import asyncio
import importlib.metadata
import json
import sys

import hooks  # the app's own
import lms_hooks
import lms_hooks.host
from memory_host import MemoryHost
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

CSV = b"vendor_guid,object_type,title\\r\\nreading,group,Reading\\r\\n"


async def main(storage_url):
    host = MemoryHost(settings={"lms_outcomes": {"storage_url": storage_url}})
    account = host.add_account("District")
    user, token = host.add_user("Ada")
    for permission in lms_hooks.host.PERMISSIONS:
        host.grant(user, permission, account)
    server = HTTPServer(host.make_app())
    [socket] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([socket])
    url = f"http://127.0.0.1:{socket.getsockname()[1]}/api/v1/accounts/{account.id}"
    await host.startup()
    try:
        client, auth = AsyncHTTPClient(), {"Authorization": f"Bearer {token}"}
        created = await client.fetch(f"{url}/outcome_imports", method="POST", body=CSV,
                                     headers={**auth, "Content-Type": "text/csv"})
        status = f"{url}/outcome_imports/{json.loads(created.body)['id']}"
        while (state := json.loads((await client.fetch(status, headers=auth)).body)[
                "workflow_state"]) not in ("succeeded", "failed"):
            await asyncio.sleep(0.02)
    finally:
        await host.shutdown()
        server.stop()
    plugin = host.plugin_manager.list_plugin_distinfo()[0][0]
    print(json.dumps({
        "state": state,
        "own_hooks": hooks.OWN,
        "lms_hooks": lms_hooks.__file__,
        "plugin": plugin.__file__,
        "dist": str(importlib.metadata.distribution("lms-outcomes").locate_file("")),
    }))


if __name__ == "__main__":  # the parse worker imports this module again
    asyncio.run(main(sys.argv[1]))
'''


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Installed:
    wheel: Path
    python: Path
    site_packages: Path


def dependencies(into: Path) -> Path:
    """This virtualenv's site-packages without this project (nor its editable finder)."""
    into.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name
        if name.startswith(("lms_outcomes", "__editable__", "__pycache__")) or name.endswith(
            ".pth"
        ):
            continue
        (into / name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: building in place would leave build/ in the tree
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in PACKAGES.values():
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", work / "dist", source)
    [wheel] = (work / "dist").glob("lms_outcomes-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel)
    site_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                           "['purelib'])").strip())
    (site_packages / "dependencies.pth").write_text(f"{dependencies(work / 'deps')}\n")
    return Installed(wheel, python, site_packages)


def source_files() -> set[str]:
    files = set()
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    return files


def test_the_wheel_holds_every_module_and_data_file_of_the_tree(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = {name for name in wheel.namelist() if ".dist-info/" not in name}
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = wheel.read(metadata).decode()
    assert names == source_files()
    assert "[lms]\nlms_outcomes = lms_outcomes_plugin.plugin\n" in entry_points


OWN_HOOKS = 'OWN = "the app\'s own hooks"\n'


@pytest.mark.parametrize("layout", ["hooks.py", "hooks/__init__.py"])
def test_an_app_with_its_own_hooks_module_loads_the_plugin(
    installed: Installed, tmp_path: Path, storage_url: str, layout: str
) -> None:
    app = tmp_path / "app"
    (app / layout).parent.mkdir(parents=True, exist_ok=True)
    (app / layout).write_text(OWN_HOOKS)
    shutil.copy(TESTS / "memory_host.py", app / "memory_host.py")
    (app / "app.py").write_text(APP)

    # A clean environment: this test session's PYTHONPATH must not leak the source tree in.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [installed.python, "app.py", storage_url], cwd=app, capture_output=True, text=True,
        timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    assert seen["state"] == "succeeded"
    assert seen["own_hooks"] == "the app's own hooks"
    site = str(installed.site_packages)
    assert seen["lms_hooks"] == f"{site}/lms_hooks/__init__.py"
    assert seen["plugin"] == f"{site}/lms_outcomes_plugin/plugin.py"
    assert seen["dist"] == site

"""scripts/: an optional system package that cannot be installed never fails the install or main job."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _fake(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("uid, apt, reason", [
    ("0", 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234" >&2; exit 100',
     "apt-get failed: E: Could not get lock"),
    ("1000", "exit 0", "not root"),
])
def test_optional_package_that_cannot_be_installed_is_skipped_and_named(tmp_path, uid, apt, reason):
    _fake(tmp_path, "dpkg", "exit 1")                                # not installed
    _fake(tmp_path, "id", f"echo {uid}")
    _fake(tmp_path, "apt-get", f'echo "$@" >> {tmp_path}/apt-calls; {apt}')
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    r = subprocess.run(["bash", "scripts/optional_packages.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0
    assert f"skipped the optional package dataset-fashion-mnist ({reason}" in r.stderr
    assert "sudo apt-get install dataset-fashion-mnist" in r.stderr and "Fashion-MNIST experiments" in r.stderr
    assert (tmp_path / "apt-calls").exists() == (uid == "0")


def test_installed_optional_package_is_not_touched(tmp_path):
    _fake(tmp_path, "dpkg", "exit 0")
    _fake(tmp_path, "apt-get", f"touch {tmp_path}/called; exit 100")
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    r = subprocess.run(["bash", "scripts/optional_packages.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "" and not (tmp_path / "called").exists()


def test_install_script_reaches_apt_only_through_the_optional_step():
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert "apt-get" not in install.replace("optional_packages.sh", "") and "bash scripts/optional_packages.sh" in install

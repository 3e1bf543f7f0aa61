"""Where a dbt invocation runs: project dir, profile, target, target path, from its arguments.

``sutura-dbt`` passes the user's arguments to dbt unchanged; this module only reads the
few that say where the project and its artifacts are, using dbt's own precedence
(flag, then ``DBT_*`` environment variable, then ``dbt_project.yml``, then the default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

__all__ = ["Project", "flag_value", "flag_values", "without_flags"]

# dbt flags that also apply to `dbt parse` (so the manifest we parse first is the one dbt would build).
_PARSE_FLAGS = ("--project-dir", "--profiles-dir", "--profile", "--target", "-t", "--target-path", "--vars", "--threads")


def flag_value(args: Sequence[str], *names: str) -> str | None:
    """The value of the last ``--flag value`` or ``--flag=value`` among ``names``."""
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
    return found


def flag_values(args: Sequence[str], *names: str) -> list[str]:
    """Every value of every ``--flag a b`` / ``--flag=a`` among ``names`` (selection flags take several).

    >>> flag_values(["--exclude", "a", "b", "--threads", "2", "--exclude=c"], "--exclude")
    ['a', 'b', 'c']
    """
    out: list[str] = []
    taking = False
    for arg in args:
        if taking and not arg.startswith("-"):
            out.append(arg)
            continue
        taking = arg in names
        if not taking:
            out += [arg.split("=", 1)[1] for n in names if arg.startswith(n + "=")]
    return out


def without_flags(args: Sequence[str], *names: str) -> list[str]:
    """``args`` minus every ``--flag values...`` / ``--flag=value`` among ``names``.

    Selection flags take several values (``--select a b``): every argument up to the next
    flag is dropped with the flag.
    """
    out: list[str] = []
    skipping = False
    for arg in args:
        if skipping and not arg.startswith("-"):
            continue
        skipping = False
        if arg in names:
            skipping = True
            continue
        if any(arg.startswith(n + "=") for n in names):
            continue
        out.append(arg)
    return out


@dataclass
class Project:
    """A dbt project as one invocation sees it."""

    dir: Path
    name: str
    profile_name: str
    target_path: Path
    profiles_dir: Path
    target: str | None
    args: list[str] = field(default_factory=list)  # the dbt arguments after the command

    @classmethod
    def from_args(cls, args: Sequence[str]) -> Project:
        project_dir = Path(flag_value(args, "--project-dir") or os.environ.get("DBT_PROJECT_DIR") or os.getcwd()).resolve()
        config = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
        target_path = Path(
            flag_value(args, "--target-path") or os.environ.get("DBT_TARGET_PATH") or config.get("target-path") or "target"
        )
        if not target_path.is_absolute():
            target_path = project_dir / target_path
        profiles_dir = flag_value(args, "--profiles-dir") or os.environ.get("DBT_PROFILES_DIR")
        if not profiles_dir:
            profiles_dir = str(project_dir) if (project_dir / "profiles.yml").exists() else os.path.expanduser("~/.dbt")
        return cls(
            dir=project_dir,
            name=str(config.get("name", project_dir.name)),
            profile_name=flag_value(args, "--profile") or os.environ.get("DBT_PROFILE") or str(config.get("profile", "")),
            target_path=target_path,
            profiles_dir=Path(profiles_dir).resolve(),
            target=flag_value(args, "--target", "-t") or os.environ.get("DBT_TARGET"),
            args=list(args),
        )

    def parse_args(self) -> list[str]:
        """The arguments of ``dbt parse`` matching this invocation's project, profile and vars."""
        out: list[str] = []
        for name in _PARSE_FLAGS:
            value = flag_value(self.args, name)
            if value is not None and not (name == "-t" and flag_value(self.args, "--target")):
                out += [name, value]
        if flag_value(self.args, "--project-dir") is None:
            out += ["--project-dir", str(self.dir)]
        return out

    def profile(self) -> dict[str, Any]:
        """The rendered output of the active target (``env_var`` resolved), as dbt-ol reads it."""
        from openlineage.common.provider.dbt.local import DbtLocalArtifactProcessor

        loader = DbtLocalArtifactProcessor.__new__(DbtLocalArtifactProcessor)
        loader.jinja_environment = None
        profiles = loader.load_yaml_with_jinja(str(self.profiles_dir / "profiles.yml"))
        profile = profiles[self.profile_name]
        target = self.target or profile["target"]
        return {key: profile["outputs"][target].get(key) for key in profile["outputs"][target]} | {"_target": target}

    @property
    def state_file(self) -> Path:
        return self.target_path / "sutura_state.json"

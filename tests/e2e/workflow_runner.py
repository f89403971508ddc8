"""Play a GitHub Actions workflow locally: jobs in `needs` order, matrices, `if:` conditions, outputs,
and every `run:` step in bash as the runner would; `uses:` steps are stood in for (checkout copies the
source tree, artifacts go to a folder, configure-aws-credentials points AWS at the sandbox), except
local composite actions (`uses: ./...`), whose steps are played the same way.

Python: setup-python puts the runtime venv (`install_runtime`: requirements.txt and the project, nothing
else) first on PATH. The action's install step itself ran once, into that venv, by `install_runtime`
with the same commands; in each job it is stood in for. A job that runs the reconciler without the
install action finds no `reconciler`: the machine's PATH has none.

Run steps run as GitHub's Linux runners run them: `bash -e` when no shell is named, `bash -eo pipefail` for
`shell: bash` (a step's, or a job's or workflow's `defaults.run.shell`).

Only the expression language our workflows use is supported; anything else raises, so a workflow change
that this runner can't play fails the test instead of being skipped silently.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INSTALL_STEP = "Install the reconciler"  # the run step of .github/actions/install
INSTALL_ACTION = Path(".github/actions/install/action.yml")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!(),\[\]])"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_*][\w-]*)*))"
)


class Unsupported(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            if text[position:].strip() == "":
                break
            raise Unsupported(f"cannot parse expression {text!r} at {position}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


@dataclass
class Context:
    values: dict[str, Any]
    status: str = "success"  # of the job so far (for always()/success()/failure())

    def lookup(self, dotted: str) -> Any:
        if dotted.split(".")[0] not in self.values:
            raise Unsupported(f"unknown context in {dotted!r}")
        value: Any = self.values
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else value


class _Parser:
    def __init__(self, text: str, context: Context) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.context = context

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.index != len(self.tokens):
            raise Unsupported(f"trailing tokens in expression: {self.tokens[self.index :]}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = value and right
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            value = (value == right) if op == "==" else (value != right)
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not self.unary()
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.or_()
            self.take()
            return value
        if kind == "name" and self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take()
            return self.call(text, args)
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            return self.context.lookup(text)
        raise Unsupported(f"unexpected token {text!r}")

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.context.status
        functions = {
            "always": lambda: True,
            "success": lambda: status == "success",
            "failure": lambda: status == "failure",
            "cancelled": lambda: False,
            "fromJSON": lambda text: json.loads(text),
            "toJSON": lambda value: json.dumps(value),
        }
        if name not in functions:
            raise Unsupported(f"function {name}()")
        return functions[name](*args)


def evaluate(expression: str, context: Context) -> Any:
    return _Parser(expression, context).parse()


def interpolate(value: Any, context: Context) -> Any:
    """`${{ ... }}` in a string: the whole string may be one expression (keeps its type) or embed several."""
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{\{(.*?)\}\}", value.strip(), re.S)
    if whole:
        return evaluate(whole.group(1), context)
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(evaluate(m.group(1), context)), value, flags=re.S)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def condition(expression: Any, context: Context, default: str = "success()") -> bool:
    if isinstance(expression, bool):  # YAML reads `if: true` as a boolean
        expression = "true" if expression else "false"
    text = str(expression) if expression is not None else default
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        text = f"success() && ({text})"
    return bool(evaluate(text, context))


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    output: str = ""


@dataclass
class JobResult:
    name: str
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    assumed_roles: list[str] = field(default_factory=list)
    environment: str = ""  # the deployment environment the job ran in (`environment:`), if any

    def output(self) -> str:
        return "\n".join(s.output for s in self.steps)


@dataclass
class Runner:
    """Plays workflows from `source` (the repository under test: policies/ and workflows)."""

    source: Path
    workspace: Path
    event_name: str
    event: dict[str, Any]
    env: dict[str, str]  # the machine's environment: PATH, sandbox endpoints, ...
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    repository: str = "acme/ecr-policies"
    sha: str = "0" * 40
    token: str = ""
    run_id: int = 1
    ref: str = "refs/heads/main"
    actor: str = "octocat"
    # Called with a job's name before the job runs: what happens meanwhile (an approval's wait, another
    # writer) is played there.
    before_job: Callable[[str], None] | None = None
    # What the pull request changed (paths in the repository), for a checkout with history.
    changed_files: tuple[str, ...] = ()
    project: Path | None = None  # this project: its .github (workflows and actions) is checked out too
    python_bin: Path | None = None  # the runtime venv's bin, which setup-python puts on PATH
    artifacts: Path | None = None
    default_shell: str | None = None  # the workflow's `defaults.run.shell`

    def run(self, workflow: Path) -> dict[str, JobResult]:
        spec = yaml.safe_load(workflow.read_text())
        self.default_shell = _default_shell(spec)
        self.artifacts = self.workspace / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        event_file = self.workspace / "event.json"
        event_file.write_text(json.dumps(self.event))
        jobs: dict[str, Any] = spec["jobs"]
        results: dict[str, JobResult] = {}
        pending = list(jobs)
        while pending:
            ready = [j for j in pending if all(n in results for n in _needs(jobs[j]))]
            if not ready:
                raise Unsupported(f"cyclic needs in {pending}")
            for name in ready:
                pending.remove(name)
                if self.before_job is not None:
                    self.before_job(name)
                results[name] = self._job(name, jobs[name], results, event_file)
        return results

    def _context(self, results: dict[str, JobResult], needs: list[str], **extra: Any) -> Context:
        github = {
            "event_name": self.event_name,
            "event": self.event,
            "repository": self.repository,
            "sha": self.sha,
            "token": self.token,
            "ref": self.ref,
            "actor": self.actor,
        }
        needs_context = {n: {"result": results[n].result, "outputs": results[n].outputs} for n in needs}
        values = {
            "github": github,
            "needs": needs_context,
            "secrets": self.secrets,
            "vars": self.variables,
            "inputs": self.inputs,
            "matrix": {},
            "steps": {},
            "env": {},
        } | extra
        status = "failure" if any(results[n].result == "failure" for n in needs) else "success"
        return Context(values, status)

    def _job(self, name: str, job: dict[str, Any], results: dict[str, JobResult], event: Path) -> JobResult:
        needs = _needs(job)
        context = self._context(results, needs)
        if any(results[n].result == "skipped" for n in needs) and "always()" not in str(job.get("if", "")):
            return JobResult(name, "skipped")
        if not condition(job.get("if"), context):
            return JobResult(name, "skipped")
        matrix = job.get("strategy", {}).get("matrix")
        if not matrix:
            return self._instance(name, job, context, event)
        ((axis, values),) = matrix.items()  # our workflows use one axis
        values = interpolate(values, context)
        instances = [
            self._instance(name, job, self._context(results, needs, matrix={axis: v}), event) for v in values
        ]
        combined = JobResult(
            name,
            "failure" if any(i.result == "failure" for i in instances) else "success",
            environment=str(job.get("environment") or ""),
        )
        for instance in instances:
            combined.steps += instance.steps
            combined.summary += instance.summary
            combined.assumed_roles += instance.assumed_roles
        return combined

    def _instance(self, name: str, job: dict[str, Any], context: Context, event: Path) -> JobResult:
        matrix_name = json.dumps(context.values["matrix"], sort_keys=True) if context.values["matrix"] else ""
        workdir = self.workspace / "jobs" / re.sub(r"\W+", "-", f"{name}-{matrix_name}").strip("-")
        workdir.mkdir(parents=True)
        summary = workdir.parent / f"{workdir.name}.summary.md"
        summary.touch()
        result = JobResult(name, "success", environment=str(job.get("environment") or ""))
        steps: dict[str, Any] = {}
        context.values["steps"] = steps
        for index, step in enumerate(job["steps"]):
            context.status = result.result
            title = step.get("name") or step.get("uses") or f"step {index}"
            if not condition(step.get("if"), context):
                result.steps.append(StepResult(title, "skipped"))
                continue
            output_file = workdir.parent / f"{workdir.name}.{index}.output"
            output_file.touch()
            env = self._step_env(step, context, event, summary, output_file)
            shell = step.get("shell") or _default_shell(job) or self.default_shell
            outcome, text = self._step(step, context, workdir, env, result, shell)
            result.steps.append(StepResult(title, outcome, text))
            if "id" in step:
                steps[step["id"]] = {"outputs": _read_outputs(output_file), "outcome": outcome}
            if outcome == "failure":
                result.result = "failure"
        context.status = result.result
        result.outputs = {k: str(interpolate(v, context)) for k, v in job.get("outputs", {}).items()}
        result.summary = summary.read_text()
        return result

    def _step(
        self,
        step: dict[str, Any],
        context: Context,
        workdir: Path,
        env: dict[str, str],
        job: JobResult,
        shell: str | None,
    ) -> tuple[str, str]:
        if "uses" in step:
            return self._uses(step, context, workdir, env, job)
        if step.get("name") == INSTALL_STEP:
            return "success", "(stood in for: install_runtime ran these commands into the runtime venv)"
        return self._shell(interpolate(step["run"], context), workdir, env, shell)

    def _composite(
        self, path: str, context: Context, workdir: Path, env: dict[str, str], job: JobResult
    ) -> tuple[str, str]:
        """A local composite action's steps in order, in the job's working directory (no inputs)."""
        action_file = workdir / path / "action.yml"
        if not action_file.exists():
            return "failure", f"{path}: no action.yml (was the repository checked out first?)"
        action = yaml.safe_load(action_file.read_text())
        if action["runs"]["using"] != "composite" or action.get("inputs"):
            raise Unsupported(f"{path}: only composite actions without inputs")
        texts = []
        for step in action["runs"]["steps"]:
            if "if" in step:
                raise Unsupported(f"{path}: conditional steps")
            step_env = env | context.values["env"]
            step_env.update({k: _text(interpolate(v, context)) for k, v in step.get("env", {}).items()})
            if "run" in step and step.get("shell") is None:
                raise Unsupported(
                    f"{path}: a composite action's run step must name its shell, as GitHub requires"
                )
            outcome, text = self._step(step, context, workdir, step_env, job, step.get("shell"))
            texts.append(text)
            if outcome == "failure":
                return outcome, "\n".join(texts)
        return "success", "\n".join(texts)

    def _step_env(
        self, step: dict[str, Any], context: Context, event: Path, summary: Path, output: Path
    ) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": self.event_name,
                "GITHUB_EVENT_PATH": str(event),
                "GITHUB_REPOSITORY": self.repository,
                "GITHUB_SHA": self.sha,
                "GITHUB_REF": self.ref,
                "GITHUB_ACTOR": self.actor,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": str(self.run_id),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_WORKSPACE": str(self.workspace),
            }
        )
        env.update(context.values["env"])
        env.update({k: _text(interpolate(v, context)) for k, v in step.get("env", {}).items()})
        return env

    def _shell(self, script: str, workdir: Path, env: dict[str, str], shell: str | None) -> tuple[str, str]:
        # GitHub's Linux runners: no shell named runs `bash -e {0}` (no pipefail: a pipeline fails only if
        # its last command does); `shell: bash` runs `bash --noprofile --norc -eo pipefail {0}`.
        if shell not in (None, "bash"):
            raise Unsupported(f"shell {shell!r}")
        options = ["-eo", "pipefail"] if shell == "bash" else ["-e"]
        process = subprocess.run(
            ["bash", "--noprofile", "--norc", *options, "-c", script],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return ("success" if process.returncode == 0 else "failure"), process.stdout + process.stderr

    def _history(self, workdir: Path) -> None:
        """Two commits, as a pull request's merge commit fetched with depth 2 has them: HEAD^1 (the base)
        differs from HEAD in `changed_files` only."""
        if not self.changed_files:
            raise Unsupported("checkout with history: tell the runner which files the pull request changed")
        identity = {"GIT_AUTHOR_NAME": "base", "GIT_AUTHOR_EMAIL": "base@example.invalid"}
        env = (
            self.env
            | identity
            | {"GIT_COMMITTER_NAME": "base", "GIT_COMMITTER_EMAIL": "base@example.invalid"}
        )

        def git(*args: str) -> None:
            subprocess.run(["git", *args], cwd=workdir, env=env, check=True, capture_output=True, timeout=60)

        final = {
            name: (workdir / name).read_bytes() if (workdir / name).exists() else None
            for name in self.changed_files
        }
        git("init", "-q")
        for name in self.changed_files:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text(f"{name} as on the base branch\n")
        git("add", "-A")
        git("commit", "-q", "-m", "base")
        for name, content in final.items():
            (workdir / name).write_bytes(content if content is not None else b"changed by the pull request\n")
        git("add", "-A")
        git("commit", "-q", "-m", "pull request")

    def _uses(
        self, step: dict[str, Any], context: Context, workdir: Path, env: dict[str, str], job: JobResult
    ) -> tuple[str, str]:
        action = step["uses"].split("@")[0]
        given = {k: interpolate(v, context) for k, v in step.get("with", {}).items()}
        assert self.artifacts is not None
        if action.startswith("./"):
            if given:
                raise Unsupported(f"{action}: inputs")
            return self._composite(action, context, workdir, env, job)
        if action == "actions/checkout":
            assert given.get("persist-credentials") is False, "checkout must not persist credentials"
            for item in ("policies", ".github"):
                if (self.source / item).exists():
                    shutil.copytree(self.source / item, workdir / item)
            if self.project and not (workdir / ".github").exists():
                shutil.copytree(self.project / ".github", workdir / ".github")
            if given.get("fetch-depth") is not None:
                self._history(workdir)
            return "success", "checked out"
        if action == "actions/setup-python":
            if self.python_bin is None:
                return "failure", "no runtime venv for setup-python"
            context.values["env"]["PATH"] = f"{self.python_bin}:{env['PATH']}"
            return "success", f"python from {self.python_bin}"
        if action == "aws-actions/configure-aws-credentials":
            role = str(given.get("role-to-assume", ""))
            if not role:
                return "failure", "role-to-assume is empty"
            job.assumed_roles.append(role)
            context.values["env"].update({"AWS_REGION": str(given.get("aws-region", ""))})
            return "success", f"assumed {role}"
        if action == "actions/upload-artifact":
            target = self.artifacts / str(given["name"])
            files = [p for p in workdir.glob(str(given["path"])) if p.is_file()]
            if files:
                target.mkdir(parents=True, exist_ok=True)
                for file in files:
                    shutil.copy(file, target / file.name)
            return "success", f"uploaded {len(files)}"
        if action == "actions/download-artifact":
            destination = workdir / str(given.get("path", "."))
            destination.mkdir(parents=True, exist_ok=True)
            for folder in self.artifacts.iterdir():
                if fnmatch.fnmatch(folder.name, str(given.get("pattern", "*"))):
                    for file in folder.iterdir():
                        shutil.copy(file, destination / file.name)
            return "success", "downloaded"
        raise Unsupported(f"no stand-in for {action}")


def concurrency_group(workflow: Path, job: str | None = None) -> str | None:
    """The concurrency group a workflow's runs (or, with `job`, that job) join; None without one. Only
    fixed group names: an expression would need the run's context."""
    spec = yaml.safe_load(workflow.read_text())
    holder = spec if job is None else spec["jobs"][job]
    setting = holder.get("concurrency")
    if setting is None:
        return None
    group = setting if isinstance(setting, str) else setting["group"]
    if "${{" in group or (isinstance(setting, dict) and setting.get("cancel-in-progress")):
        raise Unsupported(f"{workflow.name}: only fixed groups without cancel-in-progress")
    return str(group)


@dataclass
class Queued:
    label: str
    group: str
    state: str  # running | pending | cancelled | done


@dataclass
class ConcurrencyGroups:
    """GitHub's documented rule for `concurrency` groups without cancel-in-progress ("Control the
    concurrency of workflows and jobs", docs.github.com): in a group at most one run (or job) runs and at
    most one is pending; one that joins the group while another is pending cancels that pending one,
    whichever workflow either comes from. The tests play what this model lets run."""

    queued: list[Queued] = field(default_factory=list)

    def join(self, label: str, group: str | None) -> Queued:
        if group is None:
            item = Queued(label, "", "running")
        else:
            for other in self.queued:
                if other.group == group and other.state == "pending":
                    other.state = "cancelled"
            busy = any(o.group == group and o.state == "running" for o in self.queued)
            item = Queued(label, group, "pending" if busy else "running")
        self.queued.append(item)
        return item

    def finish(self, item: Queued) -> Queued | None:
        """`item` is done; the pending one of its group, if any, starts (and is returned)."""
        assert item.state == "running", f"{item.label} is {item.state}"
        item.state = "done"
        for other in self.queued:
            if item.group and other.group == item.group and other.state == "pending":
                other.state = "running"
                return other
        return None


def _default_shell(holder: dict[str, Any]) -> str | None:
    """A workflow's or a job's `defaults.run.shell`."""
    value = (holder.get("defaults") or {}).get("run", {}).get("shell")
    return None if value is None else str(value)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _read_outputs(path: Path) -> dict[str, str]:
    outputs = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            outputs[key] = value
    return outputs


def machine_env(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment: system tools on PATH (no Python packages: setup-python brings the runtime
    venv), the sandbox endpoints, nothing else."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        **extra,
    }


def install_commands(project: Path) -> str:
    """The run step of the install action, as the workflows run it."""
    action = yaml.safe_load((project / INSTALL_ACTION).read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("name") == INSTALL_STEP]
    return str(step["run"])


def install_runtime(project: Path, target: Path) -> Path:
    """What a workflow job's install does, once: a fresh venv at `target` (actions/setup-python's part),
    then the install action's own commands in a copy of the project, with that venv first on PATH.
    Returns the venv's bin directory."""
    subprocess.run([sys.executable, "-m", "venv", str(target / "venv")], check=True, timeout=300)
    checkout = target / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(project / "reconciler", checkout / "reconciler", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(project / name, checkout / name)
    bin_dir = target / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    process = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install_commands(project)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if process.returncode != 0:
        raise RuntimeError(f"the install action failed:\n{process.stdout}{process.stderr}")
    return bin_dir

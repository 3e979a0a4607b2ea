"""infra/ checked against the code: the jobs and flags that manifests run, the pins in
pyproject.toml, image tags, GPU settings, and that no secret is written in a manifest.

Fast and offline: YAML (PyYAML ships with Ray), argparse parsers imported from `jobs/`, Ray's
own launcher schema and runtime_env parsing. Nothing here is a copy of a manifest: every
expected value comes from the code or from another infra file it must agree with.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
JOBS = ROOT / "jobs"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

JOB_CALL = re.compile(r"\bpython -m jobs\.([A-Za-z_]\w*)")
# a job that issue 6 is still writing: its entries are checked once the module exists
PENDING_JOBS = {"maintain"}
# GPU options the jobs are expected to offer (asserted against their parsers below)
EXPECTED_GPU_OPTIONS = {"ingest": "gpus_per_worker", "embed": "gpus_per_worker", "train": "use_gpu"}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|CREDENTIAL|PRIVATE)", re.IGNORECASE)
PLACEHOLDER = re.compile(r"^(REPLACE_ME|CHANGE_ME|CHANGEME|<[^>]*>)$")
SHELL_OPERATOR = re.compile(r"^[;&|<>()]+$")


# ---------------------------------------------------------------- code facts


def dependency_pins() -> dict[str, Requirement]:
    requirements = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in requirements}


def exact_pin(name: str) -> str:
    requirement = dependency_pins()[canonicalize_name(name)]
    versions = [s.version for s in requirement.specifier if s.operator == "=="]
    assert len(versions) == 1, f"pyproject.toml does not pin {name} exactly: {requirement}"
    return versions[0]


def ray_version() -> str:
    return exact_pin("ray")


def job_exists(name: str) -> bool:
    return (JOBS / f"{name}.py").is_file()


def skip_if_pending(name: str) -> None:
    if name in PENDING_JOBS and not job_exists(name):
        pytest.skip(
            f"jobs/{name}.py does not exist yet (being written in issue 6); its infra entries are checked once it does"
        )


def job_parser(name: str):
    """The job's argparse parser (its `build_parser()`), or None when it has none to import."""
    module = importlib.import_module(f"jobs.{name}")
    build = getattr(module, "build_parser", None)
    return build() if callable(build) else None


def job_help(name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"jobs.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"python -m jobs.{name} --help failed:\n{result.stderr}"
    return result.stdout


def gpu_options(parser) -> dict[str, object]:
    """dest -> option string of every option of the parser about GPUs."""
    return {
        action.dest: action.option_strings[0]
        for action in parser._actions
        if action.option_strings and "gpu" in action.dest
    }


# ---------------------------------------------------------------- infra files


def infra_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def yaml_files() -> list[Path]:
    return [p for p in infra_files() if p.suffix in (".yaml", ".yml")]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def load_yaml(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def embedded_manifests(doc: dict) -> list[dict]:
    """Manifests kept as text inside a ConfigMap (e.g. the RayJob the CronJob creates)."""
    if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
        return []
    found = []
    for key, text in (doc.get("data") or {}).items():
        if key.endswith((".yaml", ".yml")):
            found += [d for d in yaml.safe_load_all(text) if d is not None]
    return found


def manifests() -> list[tuple[Path, dict]]:
    """Every Kubernetes object under infra/k8s, the embedded ones included."""
    found = []
    for path in yaml_files():
        if "k8s" not in path.relative_to(INFRA).parts:
            continue
        for doc in load_yaml(path):
            found.append((path, doc))
            found += [(path, sub) for sub in embedded_manifests(doc)]
    return found


def of_kind(kind: str) -> list[tuple[Path, dict]]:
    return [(path, doc) for path, doc in manifests() if doc.get("kind") == kind]


def launcher_config() -> dict:
    (config,) = load_yaml(INFRA / "cluster" / "aws.yaml")
    return config


def cron_file() -> Path:
    (path,) = sorted((INFRA / "cron").glob("*.cron"))
    return path


def cron_variables(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z_]\w*)=(.*)$", text, flags=re.MULTILINE))


def cron_entries(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Za-z_]\w*=", line)
    ]


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: variables.get(m[1], m[0]), text)


def pod_specs(cluster_spec: dict) -> list[tuple[str, dict]]:
    """(group name, pod spec) of a RayCluster spec's head and worker groups."""
    groups = [("head", cluster_spec["headGroupSpec"]["template"]["spec"])]
    groups += [(g["groupName"], g["template"]["spec"]) for g in cluster_spec.get("workerGroupSpecs", [])]
    return groups


def ray_cluster_specs() -> list[tuple[str, dict]]:
    specs = [(f"{rel(p)}:RayCluster/{d['metadata']['name']}", d["spec"]) for p, d in of_kind("RayCluster")]
    specs += [(f"{rel(p)}:RayJob/{_name(d)}", d["spec"]["rayClusterSpec"]) for p, d in of_kind("RayJob")]
    return specs


def _name(doc: dict) -> str:
    meta = doc.get("metadata", {})
    return meta.get("name") or meta.get("generateName", "?")


def gpu_limit(container: dict) -> float:
    limits = (container.get("resources") or {}).get("limits") or {}
    return float(limits.get("nvidia.com/gpu", 0))


# ---------------------------------------------------------------- job invocations


@dataclass(frozen=True)
class Invocation:
    origin: str
    job: str
    args: tuple[str, ...]
    cluster: dict | None = field(default=None, compare=False, hash=False)  # kind + spec it runs on
    runtime_env: dict | None = field(default=None, compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.origin}: python -m jobs.{self.job} {' '.join(self.args)}"

    @property
    def id(self) -> str:
        return f"{self.origin}:{self.job}"


def split_call(line: str, variables: dict[str, str] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """Each `python -m jobs.X ARGS` in a command line, ARGS up to the first shell operator."""
    calls = []
    for match in JOB_CALL.finditer(line):
        rest = expand(line[match.end() :], variables or {})
        rest = re.sub(r"(?<=\s)\d+(?=[<>])", "", rest)  # `2>&1`: the fd number belongs to the redirection
        lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        args = []
        for token in lexer:
            if SHELL_OPERATOR.match(token):
                break
            args.append(token)
        calls.append((match[1], tuple(args)))
    return calls


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def invocations() -> list[Invocation]:
    found: dict[Invocation, None] = {}
    for path, doc in manifests():
        if doc.get("kind") == "RayJob":
            spec = doc["spec"]
            runtime_env = yaml.safe_load(spec.get("runtimeEnvYAML") or "") or {}
            for job, args in split_call(spec["entrypoint"]):
                found.setdefault(
                    Invocation(
                        f"{rel(path)}:RayJob/{_name(doc)}",
                        job,
                        args,
                        {"kind": "k8s", "spec": spec["rayClusterSpec"]},
                        runtime_env,
                    )
                )
            continue
        if doc.get("kind") == "ConfigMap":
            continue  # its manifests are in manifests() on their own
        for text in _strings(doc):
            for line in text.splitlines():
                for job, args in split_call(line):
                    found.setdefault(Invocation(f"{rel(path)}:{doc.get('kind')}/{_name(doc)}", job, args))
    path = cron_file()
    text = path.read_text()
    variables = cron_variables(text)
    for number, line in enumerate(text.splitlines(), 1):
        if line in cron_entries(text):
            runtime_env = None
            env_json = re.search(r"--runtime-env-json[= ]'([^']*)'", line)
            if env_json:
                runtime_env = json.loads(env_json[1])
            for job, args in split_call(line, variables):
                found.setdefault(
                    Invocation(
                        f"{rel(path)}:{number}", job, args, {"kind": "launcher", "spec": launcher_config()}, runtime_env
                    )
                )
    return list(found)


def mentioned_jobs() -> list[tuple[str, str]]:
    """(file, job) for every `python -m jobs.X` written anywhere under infra/, comments included."""
    return sorted({(rel(p), m[1]) for p in infra_files() for m in JOB_CALL.finditer(p.read_text())})


# ---------------------------------------------------------------- tests: files parse


@pytest.mark.parametrize("path", yaml_files(), ids=rel)
def test_yaml_parses(path):
    docs = load_yaml(path)
    assert docs, f"{rel(path)} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{rel(path)}: a document is {type(doc).__name__}, not a mapping"
        for sub in embedded_manifests(doc):
            assert isinstance(sub, dict)


def test_infra_has_the_expected_pieces():
    kinds = {doc.get("kind") for _, doc in manifests()}
    assert {"RayCluster", "RayJob", "CronJob", "Secret", "ConfigMap"} <= kinds
    assert (INFRA / "docker" / "Dockerfile").is_file() and (INFRA / "docker" / "Dockerfile.gpu").is_file()
    assert invocations(), "no `python -m jobs.X` entrypoint found under infra/"


def test_readme_names_every_file():
    readme = (INFRA / "README.md").read_text()
    missing = [rel(p) for p in infra_files() if p.name != "README.md" and p.relative_to(INFRA).as_posix() not in readme]
    assert not missing, f"infra/README.md does not describe {missing}"


# ---------------------------------------------------------------- tests: jobs and flags


@pytest.mark.parametrize("origin,job", mentioned_jobs(), ids=lambda v: str(v))
def test_mentioned_job_exists(origin, job):
    skip_if_pending(job)
    assert job_exists(job), f"{origin} runs `python -m jobs.{job}` but jobs/{job}.py does not exist"


@pytest.mark.parametrize("call", invocations(), ids=lambda c: c.id)
def test_entrypoint_flags_are_accepted(call, capsys):
    skip_if_pending(call.job)
    assert job_exists(call.job), f"{call}: jobs/{call.job}.py does not exist"
    parser = job_parser(call.job)
    if parser is None:  # no importable parser: every flag must at least appear in --help
        help_text = job_help(call.job)
        unknown = [a.split("=")[0] for a in call.args if a.startswith("--") and a.split("=")[0] not in help_text]
        assert not unknown, f"{call}: {unknown} not in `python -m jobs.{call.job} --help`"
        return
    parser.allow_abbrev = False  # `--retention` for `--retention-hours` works today, breaks with the next flag
    try:
        parser.parse_args(list(call.args))
    except SystemExit:
        pytest.fail(f"{call}\n is refused by jobs.{call.job}'s parser: {capsys.readouterr().err.strip()}")


@pytest.mark.parametrize("job,dest", sorted(EXPECTED_GPU_OPTIONS.items()))
def test_gpu_jobs_offer_their_gpu_flag(job, dest):
    parser = job_parser(job)
    assert parser is not None and dest in gpu_options(parser), (
        f"jobs.{job} has no {dest!r} option any more; update EXPECTED_GPU_OPTIONS and the GPU entrypoints in infra/"
    )


@pytest.mark.parametrize("call", invocations(), ids=lambda c: c.id)
def test_gpu_entrypoints_use_the_gpus(call):
    """Every cluster here has GPU workers: a job that can use them is told to, within capacity."""
    skip_if_pending(call.job)
    parser = job_parser(call.job)
    if parser is None:
        return
    options = gpu_options(parser)
    if not options:
        return
    args = parser.parse_args(list(call.args))
    used = {dest: getattr(args, dest) for dest in options if getattr(args, dest)}
    assert used, f"{call}: jobs.{call.job} can use GPUs ({', '.join(options.values())}) but this entrypoint does not"
    if call.cluster is None:
        return
    per_node, total = gpu_capacity(call.cluster)
    assert total > 0, f"{call}: runs on a cluster without GPU workers"
    workers = getattr(args, "workers", 1)
    if "gpus_per_worker" in used:
        assert args.gpus_per_worker <= per_node, f"{call}: {args.gpus_per_worker} GPUs per task, nodes have {per_node}"
        assert workers * args.gpus_per_worker <= total, (
            f"{call}: {workers} workers x {args.gpus_per_worker} GPUs exceed the cluster's {total} GPUs"
        )
    if "use_gpu" in used:
        assert workers <= total, f"{call}: {workers} GPU training workers, the cluster has {total} GPUs"


def gpu_capacity(cluster: dict) -> tuple[float, float]:
    """(GPUs of the largest GPU node, GPUs of the cluster at its maximum size)."""
    if cluster["kind"] == "k8s":
        per_node, total = 0.0, 0.0
        for group in cluster["spec"].get("workerGroupSpecs", []):
            gpus = max((gpu_limit(c) for c in group["template"]["spec"]["containers"]), default=0.0)
            per_node = max(per_node, gpus)
            total += gpus * group.get("maxReplicas", group.get("replicas", 0))
        return per_node, total
    config = cluster["spec"]
    types = [t for name, t in config["available_node_types"].items() if name != config["head_node_type"]]
    per_node = max((t["resources"].get("GPU", 0) for t in types), default=0)
    return per_node, sum(t["resources"].get("GPU", 0) * t.get("max_workers", 0) for t in types)


@pytest.mark.parametrize(
    "call", [c for c in invocations() if c.cluster and c.cluster["kind"] == "k8s"], ids=lambda c: c.id
)
def test_k8s_entrypoints_read_mounted_source_and_write_a_remote_lake(call):
    skip_if_pending(call.job)
    parser = job_parser(call.job)
    args = parser.parse_args(list(call.args))
    lake = getattr(args, "lake", None)
    if lake is not None:
        assert "://" in lake, f"{call}: --lake {lake} is a pod-local folder, lost with the pod; use s3://..."
    source = getattr(args, "source", None)
    if source is not None:
        for group, pod in pod_specs(call.cluster["spec"]):
            mounts = [m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])]
            assert any(source == m or source.startswith(m.rstrip("/") + "/") for m in mounts), (
                f"{call}: --source {source} is not mounted in the {group} group (mounts: {mounts}); "
                "Ray tasks read the videos by this path on every node"
            )


# ---------------------------------------------------------------- tests: runtime env


def job_runtime_envs() -> list[tuple[str, dict]]:
    envs = [(c.id, c.runtime_env) for c in invocations() if c.runtime_env]
    assert any(o.startswith("infra/k8s/") for o, _ in envs), "the RayJob has no runtimeEnvYAML"
    return envs


@pytest.mark.parametrize("origin,env", job_runtime_envs(), ids=[origin for origin, _ in job_runtime_envs()])
def test_job_runtime_env_is_valid_and_merges_with_the_jobs_own(origin, env):
    from ray.runtime_env import RuntimeEnv
    from ray.runtime_env.runtime_env import _merge_runtime_env

    from etl.ray_runtime import WORKER_ENV

    RuntimeEnv(**env)  # Ray's own validation of the fields
    merged = _merge_runtime_env(RuntimeEnv(**env), RuntimeEnv(env_vars=dict(WORKER_ENV)))
    assert merged is not None, (
        f"{origin}: its runtime_env {env} conflicts with the one etl/ray_runtime.py passes to ray.init "
        f"({WORKER_ENV}); Ray refuses to start such a job"
    )
    for name, value in (env.get("env_vars") or {}).items():
        if SECRET_NAME.search(name):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", str(value)), (
                f"{origin}: runtime_env env var {name} holds a value; refer to the pod's variable (${{{name}}}) instead"
            )


def test_requirements_runtime_match_pyproject():
    path = INFRA / "requirements-runtime.txt"
    lines = [line.split(" #")[0].strip() for line in path.read_text().splitlines()]
    listed = [Requirement(line) for line in lines if line and not line.startswith("#")]
    names = [canonicalize_name(r.name) for r in listed]
    assert len(names) == len(set(names)), f"{rel(path)} lists a package twice"

    def key(r: Requirement):
        return (sorted(r.extras), SpecifierSet(str(r.specifier)), str(r.marker or ""))

    ours = {canonicalize_name(r.name): key(r) for r in listed}
    pins = {name: key(r) for name, r in dependency_pins().items()}
    assert ours == pins, (
        f"{rel(path)} differs from pyproject.toml: only in pyproject {sorted(set(pins) - set(ours))}, "
        f"only here {sorted(set(ours) - set(pins))}, "
        f"different {sorted(n for n in set(ours) & set(pins) if ours[n] != pins[n])}"
    )


def test_requirements_runtime_is_a_valid_runtime_env_pip_field():
    from ray.runtime_env import RuntimeEnv

    env = RuntimeEnv(pip=str(INFRA / "requirements-runtime.txt"))
    assert env["pip"]["packages"], "Ray read no package from requirements-runtime.txt"


# ---------------------------------------------------------------- tests: images


def dockerfile(name: str) -> str:
    return (INFRA / "docker" / name).read_text()


def base_image(text: str) -> str:
    (image,) = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    return image


def python_tag() -> str:
    match = re.fullmatch(r"rayproject/ray:(?P<ray>[^-]+)-(?P<py>py\d+)", base_image(dockerfile("Dockerfile")))
    assert match, (
        f"infra/docker/Dockerfile: FROM {base_image(dockerfile('Dockerfile'))} is not rayproject/ray:<ray>-pyNN"
    )
    return match["py"]


def expected_tags() -> tuple[str, str]:
    cpu = f"{PYPROJECT['project']['version']}-ray{ray_version()}-{python_tag()}"
    return cpu, f"{cpu}-gpu"


def test_dockerfiles_build_on_the_pinned_ray():
    ray = ray_version()
    cpu_base, gpu_base = base_image(dockerfile("Dockerfile")), base_image(dockerfile("Dockerfile.gpu"))
    assert cpu_base == f"rayproject/ray:{ray}-{python_tag()}", f"Dockerfile FROM {cpu_base}, Ray pin {ray}"
    assert re.fullmatch(rf"rayproject/ray:{re.escape(ray)}-{python_tag()}-(gpu|cu\d+)", gpu_base), (
        f"Dockerfile.gpu FROM {gpu_base}: want Ray {ray}, {python_tag()}, a -gpu/-cuXXX tag"
    )
    minor = f"3.{python_tag()[3:]}"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(minor), (
        f"the images' Python {minor} is outside requires-python {PYPROJECT['project']['requires-python']}"
    )


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfile_installs_facelake_with_its_pins(name):
    text = dockerfile(name)
    copied = {
        src.rstrip("/")
        for line in re.findall(r"^COPY\s+(.+)$", text, flags=re.MULTILINE)
        for src in [t for t in shlex.split(line) if not t.startswith("--")][:-1]
    }
    packages = {pattern.rstrip("*") for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = packages | {"pyproject.toml", PYPROJECT["project"]["readme"]}
    # etl/lake/query.py reads the SQL files beside the etl package
    from etl.lake.query import QUERIES_DIR

    needed.add(QUERIES_DIR.relative_to(ROOT).as_posix())
    assert needed <= copied, f"{name} does not copy {sorted(needed - copied)}"
    assert re.search(r"^WORKDIR\s+/app\s*$", text, flags=re.MULTILINE), f"{name}: WORKDIR is not /app"
    assert re.search(r"pip install --no-cache-dir \.(\s|$)", text), f"{name} does not `pip install --no-cache-dir .`"
    pins = dependency_pins()
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for spec in re.findall(r"[\"']?([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?==[^\s\"']+)", instructions):
        requirement = Requirement(spec)
        name_in_pyproject = canonicalize_name(requirement.name)
        if name_in_pyproject == "onnxruntime-gpu":  # the GPU build of the same pin
            name_in_pyproject = "onnxruntime"
        assert name_in_pyproject in pins, f"{name} pins {spec}, which pyproject.toml does not depend on"
        assert requirement.specifier == pins[name_in_pyproject].specifier, (
            f"{name} installs {spec}; pyproject.toml pins {pins[name_in_pyproject]}"
        )
    # a .dockerignore beside the Dockerfile decides what the build context holds
    ignore = INFRA / "docker" / f"{name}.dockerignore"
    if ignore.is_file():
        included = {line[1:].strip().rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")}
        assert copied <= included, f"{rel(ignore)} leaves {sorted(copied - included)} out of the build context"


def images() -> list[tuple[str, str, bool]]:
    """(where, image, on a GPU node) for every image the clusters run."""
    found = []
    for origin, spec in ray_cluster_specs():
        for group, pod in pod_specs(spec):
            for container in pod["containers"]:
                found.append((f"{origin}/{group}", container["image"], gpu_limit(container) > 0))
    config = launcher_config()
    docker = config["docker"]
    head_image = docker.get("head_image", docker["image"])
    found.append(("infra/cluster/aws.yaml:head", head_image, False))
    for name, node_type in config["available_node_types"].items():
        if name == config["head_node_type"]:
            continue
        image = (node_type.get("docker") or {}).get("worker_image") or docker.get("worker_image", docker["image"])
        found.append((f"infra/cluster/aws.yaml:{name}", image, node_type["resources"].get("GPU", 0) > 0))
    return found


def test_every_cluster_runs_the_worker_image():
    cpu_tag, gpu_tag = expected_tags()
    repositories = {image.rsplit(":", 1)[0] for _, image, _ in images()}
    assert len(repositories) == 1, f"the clusters use different images: {sorted(repositories)}"
    for where, image, on_gpu in images():
        tag = image.rsplit(":", 1)[1]
        want = gpu_tag if on_gpu else cpu_tag
        assert tag == want, f"{where}: image tag {tag}, want {want} (<version>-ray<Ray pin>-<python>[-gpu])"


def test_kuberay_manifests_name_the_pinned_ray():
    for origin, spec in ray_cluster_specs():
        assert str(spec.get("rayVersion")) == ray_version(), f"{origin}: rayVersion {spec.get('rayVersion')}"
    for path, doc in of_kind("RayCluster") + of_kind("RayJob"):
        assert doc["apiVersion"] == "ray.io/v1", f"{rel(path)}: apiVersion {doc['apiVersion']}"


def test_kuberay_clusters_have_cpu_and_gpu_worker_groups():
    for origin, spec in ray_cluster_specs():
        groups = {
            g["groupName"]: max(gpu_limit(c) for c in g["template"]["spec"]["containers"])
            for g in spec["workerGroupSpecs"]
        }
        assert any(v >= 1 for v in groups.values()), f"{origin}: no worker group requests nvidia.com/gpu"
        assert any(v == 0 for v in groups.values()), f"{origin}: no CPU worker group"
        head = spec["headGroupSpec"]["template"]["spec"]["containers"]
        assert all(gpu_limit(c) == 0 for c in head), f"{origin}: the head requests a GPU"


# ---------------------------------------------------------------- tests: launcher


def test_launcher_config_is_valid_for_ray():
    import jsonschema
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = launcher_config()
    jsonschema.validate(config, schema)
    assert config["head_node_type"] in config["available_node_types"]
    gpu_types = [n for n, t in config["available_node_types"].items() if t["resources"].get("GPU", 0) >= 1]
    assert gpu_types, "infra/cluster/aws.yaml has no node type with GPU resources"
    assert not config.get("setup_commands") and not config.get("worker_setup_commands"), (
        "the image holds everything; setup commands would reinstall on every node start"
    )
    assert any(re.search(r"\bray start --head(\s|$)", c) for c in config["head_start_ray_commands"])
    assert any(
        re.search(r"\bray start --address=\$RAY_HEAD_IP:6379(\s|$)", c) for c in config["worker_start_ray_commands"]
    )


# ---------------------------------------------------------------- tests: schedule


def test_cronjob_creates_the_rayjob_without_overlap():
    ((_, cronjob),) = of_kind("CronJob")
    spec = cronjob["spec"]
    assert len(str(spec["schedule"]).split()) == 5, f"schedule {spec['schedule']!r} is not a 5-field cron expression"
    assert spec.get("concurrencyPolicy") == "Forbid"
    # the RayJob it creates is the spec of rayjob-ingest.yaml, under a new name per run
    configmaps = {d["metadata"]["name"]: d for _, d in of_kind("ConfigMap")}
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    mounted = [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
    assert mounted and all(name in configmaps for name in mounted), f"the CronJob mounts unknown ConfigMaps {mounted}"
    created = [m for name in mounted for m in embedded_manifests(configmaps[name]) if m.get("kind") == "RayJob"]
    assert len(created) == 1, "the CronJob's ConfigMap must hold exactly one RayJob"
    (standalone,) = load_yaml(INFRA / "k8s" / "rayjob-ingest.yaml")
    assert created[0]["spec"] == standalone["spec"], "the CronJob's RayJob differs from infra/k8s/rayjob-ingest.yaml"
    assert created[0]["metadata"].get("generateName") and not created[0]["metadata"].get("name"), (
        "the scheduled RayJob needs metadata.generateName: a fixed name fails on the second run"
    )
    script = "\n".join(_strings(pod["containers"]))
    assert "kubectl create" in script, "RayJobs with generateName must be made with `kubectl create`"
    # the pod must outlive its RayJob, or Forbid would not stop two runs overlapping
    assert spec["jobTemplate"]["spec"].get("activeDeadlineSeconds", 0) > standalone["spec"]["activeDeadlineSeconds"]
    rules = [r for _, d in of_kind("Role") for r in d["rules"]]
    assert any("rayjobs" in r["resources"] and "create" in r["verbs"] for r in rules), "no Role lets it create RayJobs"


def test_rayjob_cleans_up_after_itself():
    for path, doc in of_kind("RayJob"):
        spec = doc["spec"]
        assert spec.get("shutdownAfterJobFinishes") is True, f"{rel(path)}: the Ray cluster would outlive the job"
        assert isinstance(spec.get("ttlSecondsAfterFinished"), int), f"{rel(path)}: no ttlSecondsAfterFinished"


def test_crontab_entries_are_locked_and_logged():
    text = cron_file().read_text()
    variables = cron_variables(text)
    entries = cron_entries(text)
    assert entries, "the crontab has no entry"
    locks = set()
    for entry in entries:
        fields = entry.split(None, 5)
        assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,\-]+", f) for f in fields[:5]), f"bad cron line: {entry}"
        command = expand(fields[5], variables)
        lock = re.search(r"\bflock\s+(?:-\w+\s+(?:\d+\s+)?)*\"?([^\s\"]+)", command)
        assert lock, f"no flock in: {entry}"
        locks.add(lock[1])
        assert re.search(r">>\s*\S+\s+2>&1", command), f"no log file in: {entry}"
        assert "ray job submit --address http://127.0.0.1:8265" in command, f"not submitted to the local head: {entry}"
        assert "%" not in fields[5], f"cron turns % into a newline; escape it: {entry}"
    assert len(locks) == 1, f"the entries use different locks {locks}: maintenance could run during an ingest"
    jobs_run = {call.job for call in invocations() if call.origin.startswith(rel(cron_file()))}
    assert {"ingest", "maintain"} <= jobs_run


# ---------------------------------------------------------------- tests: secrets


def test_secret_example_holds_placeholders_only():
    secrets = of_kind("Secret")
    assert secrets, "no Secret example"
    for path, doc in secrets:
        values = {**(doc.get("stringData") or {}), **(doc.get("data") or {})}
        assert values, f"{rel(path)}: the Secret has no keys"
        real = {k: v for k, v in values.items() if not PLACEHOLDER.match(str(v))}
        assert not real, f"{rel(path)}: {sorted(real)} hold values, not placeholders like REPLACE_ME"


def test_pods_take_secrets_from_secret_refs():
    defined = {
        (d["metadata"]["name"], key)
        for _, d in of_kind("Secret")
        for key in {**(d.get("stringData") or {}), **(d.get("data") or {})}
    }
    for origin, spec in ray_cluster_specs():
        refs = 0
        for group, pod in pod_specs(spec):
            for container in pod["containers"]:
                for env in container.get("env", []):
                    if "value" in env and SECRET_NAME.search(env["name"]):
                        pytest.fail(f"{origin}/{group}: {env['name']} is written inline; use secretKeyRef")
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        refs += 1
                        assert (ref["name"], ref["key"]) in defined, (
                            f"{origin}/{group}: secretKeyRef {ref} is not in infra/k8s/secret-example.yaml"
                        )
        assert refs, f"{origin}: no container reads the lake credentials from a Secret"


@pytest.mark.parametrize("path", infra_files(), ids=rel)
def test_no_credentials_in_files(path):
    text = path.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), f"{rel(path)} holds an AWS access key id"
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text), f"{rel(path)} holds a private key"
    for name, value in re.findall(r"\b([A-Z_]*(?:SECRET|PASSWORD|TOKEN)[A-Z_]*)\s*[:=]\s*\"?([^\s\"#]+)", text):
        assert PLACEHOLDER.match(value) or value.startswith(("$", "{")) or value in ("|", ">"), (
            f"{rel(path)}: {name} = {value!r} looks like a credential"
        )

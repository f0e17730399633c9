"""Static checks of deploy/: the Dockerfile, the compose file and the Kubernetes manifests are
parsed and held to what the README promises of them (non-root, read-only root file system,
health checks, probes, two instances). Called by deploy/check; prints each fact it checked and
exits 1 on the first file that breaks one."""

import pathlib
import re
import sys
import tomllib

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent
DEFAULTS = tomllib.loads((DEPLOY.parent / "config" / "default.toml").read_text())
checked = []


def are_settings(variables):
    """Whether every CHAPERONE__SECTION__KEY names a setting of config/default.toml (chaperone
    refuses to start on one that does not)."""
    for variable in variables:
        parts = variable.split("__")
        if len(parts) != 3 or parts[0] != "CHAPERONE" or parts[2].lower() not in DEFAULTS.get(parts[1].lower(), {}):
            print(f"deploy/check: {variable} is not a setting of config/default.toml")
            return False
    return True


def fact(condition, what):
    if not condition:
        sys.exit(f"deploy/check: FAILED: {what}")
    checked.append(what)


def check_dockerfile():
    text = (DEPLOY / "Dockerfile").read_text()
    # Continuation lines joined, comments dropped: one instruction a line.
    lines = [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    stages = [line for line in lines if re.match(r"FROM\s", line, re.I)]
    fact(len(stages) >= 2, "Dockerfile: multi-stage (at least two FROM)")
    fact(
        all(re.search(r"\sAS\s+\S+$", line, re.I) for line in stages),
        "Dockerfile: every stage is named (FROM ... AS name)",
    )
    fact(
        any("cargo build --release --locked" in line for line in lines),
        "Dockerfile: the binary is built with cargo build --release --locked",
    )
    last_stage = lines[lines.index(stages[-1]):]
    fact(
        any(line.startswith("COPY --from=") for line in last_stage),
        "Dockerfile: the runtime stage copies the binary from the build stage",
    )
    users = [line.split()[1] for line in last_stage if line.startswith("USER ")]
    fact(users, "Dockerfile: the runtime stage sets USER")
    user = users[-1].split(":")[0]
    fact(user not in ("root", "0"), f"Dockerfile: runs as a non-root user ({users[-1]})")
    healthchecks = [line for line in last_stage if line.startswith("HEALTHCHECK ")]
    fact(
        len(healthchecks) == 1 and '"healthcheck"' in healthchecks[0],
        "Dockerfile: HEALTHCHECK runs `chaperone healthcheck` (no curl in the image)",
    )
    fact(
        any(line.startswith("VOLUME ") and "/var/lib/chaperone" in line for line in last_stage),
        "Dockerfile: the state folder /var/lib/chaperone is a volume",
    )
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    fact(
        {"target", ".git"} <= set(ignored),
        "Dockerfile.dockerignore: target/ and .git stay out of the build context",
    )


def check_compose():
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    fact(
        {"postgres", "migrate", "chaperone-1", "chaperone-2", "mailpit"} <= set(services),
        "compose.yaml: postgres, migrate, two chaperone instances and mailpit",
    )
    fact("test" in services["postgres"].get("healthcheck", {}), "compose.yaml: postgres has a health check")
    instances = ["migrate", "chaperone-1", "chaperone-2"]
    for name in instances:
        service = services[name]
        fact(service.get("read_only") is True, f"compose.yaml: {name} has a read-only root file system")
        fact(
            any(str(mount).startswith("/tmp") for mount in service.get("tmpfs", [])),
            f"compose.yaml: {name} has a tmpfs at /tmp",
        )
        fact(service.get("cap_drop") == ["ALL"], f"compose.yaml: {name} drops every capability")
        fact(
            "no-new-privileges:true" in service.get("security_opt", []),
            f"compose.yaml: {name} cannot gain privileges",
        )
        fact(
            service["build"]["dockerfile"] == "deploy/Dockerfile"
            and (DEPLOY / "compose" / service["build"]["context"] / service["build"]["dockerfile"]).is_file(),
            f"compose.yaml: {name} builds deploy/Dockerfile from the repository's root",
        )
        environment = service["environment"]
        fact(are_settings(environment), f"compose.yaml: {name}'s variables are all settings")
        fact(
            "CHAPERONE__SECRETS__KEY_FILE" in environment
            and not any(key in environment for key in ("CHAPERONE__SECRETS__KEY", "CHAPERONE__API__ADMIN_TOKEN")),
            f"compose.yaml: {name} takes its secrets from files, not the environment",
        )
    for name in ["chaperone-1", "chaperone-2"]:
        service = services[name]
        fact(service["command"][-1] == "serve", f"compose.yaml: {name} serves")
        fact(
            service["depends_on"]["migrate"]["condition"] == "service_completed_successfully",
            f"compose.yaml: {name} starts after the migration",
        )
        fact(service["stop_grace_period"] == "20s", f"compose.yaml: {name} stops gracefully (20 s > 10 s grace)")
    fact(services["migrate"]["command"][-1] == "migrate", "compose.yaml: migrate runs `chaperone migrate`")
    fact(
        services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy",
        "compose.yaml: migrate waits for a healthy postgres",
    )
    fact(
        {"chaperone_settings", "secrets_key", "postgres_password"} <= set(compose["secrets"]),
        "compose.yaml: the secrets are compose secrets",
    )


def check_kubernetes():
    folder = DEPLOY / "kubernetes"
    documents = {}
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.setdefault(document["kind"], []).append((path.name, document))
    kustomization = documents["Kustomization"][0][1]
    listed = set(kustomization["resources"])
    manifests = {name for kind, found in documents.items() if kind != "Kustomization" for name, _ in found}
    fact(
        listed == manifests - {"secret.example.yaml"} and all((folder / name).is_file() for name in listed),
        "kubernetes: kustomization.yaml lists every manifest but the example Secret",
    )
    config_map = documents["ConfigMap"][0][1]
    fact(are_settings(config_map["data"]), "kubernetes: the ConfigMap's variables are all settings")
    deployment = documents["Deployment"][0][1]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    fact(spec["replicas"] == 2, "kubernetes: the Deployment runs two replicas")
    fact(pod["securityContext"]["runAsNonRoot"] is True, "kubernetes: the pod runs as non-root")
    fact(pod["automountServiceAccountToken"] is False, "kubernetes: no service account token in the pod")
    containers = pod["containers"] + pod.get("initContainers", [])
    for container in containers:
        context = container["securityContext"]
        name = container["name"]
        fact(context["readOnlyRootFilesystem"] is True, f"kubernetes: {name} has a read-only root file system")
        fact(context["allowPrivilegeEscalation"] is False, f"kubernetes: {name} cannot gain privileges")
        fact(context["capabilities"]["drop"] == ["ALL"], f"kubernetes: {name} drops every capability")
        fact("limits" in container["resources"], f"kubernetes: {name} has resource limits")
    fact(
        [c["args"] for c in pod["initContainers"]] == [["migrate"]],
        "kubernetes: an init container runs the migrations",
    )
    server = pod["containers"][0]
    fact(server["args"] == ["serve"], "kubernetes: the container serves")
    probes = {kind: server[kind]["httpGet"]["path"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    fact(
        probes == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"},
        "kubernetes: startup and liveness probes on /healthz, readiness on /readyz",
    )
    service = documents["Service"][0][1]
    fact(
        service["spec"]["selector"] == spec["selector"]["matchLabels"]
        and service["spec"]["ports"][0]["targetPort"] == "http",
        "kubernetes: the Service selects the Deployment's pods on their http port",
    )
    budget = documents["PodDisruptionBudget"][0][1]
    fact(
        budget["spec"]["minAvailable"] == 1 and budget["spec"]["selector"] == spec["selector"],
        "kubernetes: the PodDisruptionBudget keeps one replica available",
    )
    secret = documents["Secret"][0][1]
    fact(
        all(value.count("CHANGE-ME") for value in secret["stringData"].values()),
        "kubernetes: every value in the example Secret is a CHANGE-ME placeholder",
    )
    used = {
        ref["secretKeyRef"]["key"]
        for container in containers
        for variable in container.get("env", [])
        if (ref := variable.get("valueFrom"))
    } | {item["key"] for volume in pod["volumes"] if "secret" in volume for item in volume["secret"]["items"]}
    fact(used <= set(secret["stringData"]), "kubernetes: the example Secret holds every key the pods read")
    fact(
        are_settings(variable["name"] for container in containers for variable in container.get("env", [])),
        "kubernetes: the pods' variables are all settings",
    )


def check_examples():
    settings = tomllib.loads((DEPLOY / "systemd" / "secrets.example.toml").read_text())
    fact(
        settings["api"]["admin_token"] == "CHANGE-ME" and settings["zoom"]["webhook_secret_token"] == "CHANGE-ME",
        "systemd: secrets.example.toml parses and holds placeholders only",
    )
    example = (DEPLOY / "systemd" / "chaperone.env.example").read_text().splitlines()
    variables = [line.split("=")[0] for line in example if line.strip() and not line.startswith("#")]
    fact(variables and are_settings(variables), "systemd: chaperone.env.example sets settings only")
    for name in ("secrets.example.toml",):
        for section, keys in settings.items():
            fact(
                all(key in DEFAULTS[section] for key in keys),
                f"systemd: {name} [{section}] holds settings only",
            )


check_dockerfile()
check_compose()
check_kubernetes()
check_examples()
for what in checked:
    print(f"  ok  {what}")
print(f"deploy/check: {len(checked)} facts about the Dockerfile, compose.yaml and the manifests hold")

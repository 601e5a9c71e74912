#!/usr/bin/env bash
# Checks the monitoring files (docs/operations.md, "Alerts" and "Dashboard"):
#   promtool check rules    docker/prometheus/walbridge-alerts.yaml
#   promtool test rules     docker/prometheus/walbridge-alerts.test.yaml (each alert firing and quiet)
#   promtool check config   docker/prometheus/prometheus.yml (compose's; loads the rules too)
#   the dashboard           docker/grafana/walbridge-dashboard.json parses, and its queries use
#                           only $__rate_interval, $__range and $instance
#   the runbook links       every runbook_url anchor is a heading of docs/operations.md
# Runs every check, says what each gave, and exits 1 when any failed. Needs
# promtool (Debian's prometheus package; scripts/start-postgres.sh installs it
# as root) and python3. Takes a few seconds.
#
#   bash scripts/check-monitoring.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rules=docker/prometheus/walbridge-alerts.yaml
rule_tests=docker/prometheus/walbridge-alerts.test.yaml
config=docker/prometheus/prometheus.yml
dashboard=docker/grafana/walbridge-dashboard.json
operations=docs/operations.md

if ! command -v promtool >/dev/null; then
    echo "promtool not found: install Debian's prometheus package (apt-get install --no-install-recommends prometheus; scripts/start-postgres.sh does as root)" >&2
    exit 1
fi

failed=()
# Runs a check: $1 names it, the rest is the command. Shows its output.
check() {
    local name="$1"
    shift
    printf '\033[1m--> %s\033[0m\n' "$name"
    if "$@"; then
        echo "    ok: $name"
    else
        echo "    FAILED: $name" >&2
        failed+=("$name")
    fi
}

check "promtool check rules $rules" promtool check rules "$rules"
check "promtool test rules $rule_tests" promtool test rules "$rule_tests"
check "promtool check config $config" promtool check config "$config"

check_dashboard() {
    python3 - "$dashboard" <<'EOF'
import json, re, sys
path = sys.argv[1]
try:
    with open(path) as f:
        dashboard = json.load(f)
except ValueError as error:
    sys.exit(f"{path} is not valid JSON: {error}")
allowed = {"$__rate_interval", "$__range", "$instance"}
targets = []
def walk(panels):
    for panel in panels:
        targets.extend((panel.get("title", "?"), t.get("expr", "")) for t in panel.get("targets", []))
        walk(panel.get("panels", []))
walk(dashboard.get("panels", []))
problems = []
for title, expr in targets:
    if not expr:
        problems.append(f"panel {title!r}: a target without expr")
    for variable in set(re.findall(r"\$\{?\w+\}?", expr)) - allowed:
        problems.append(f"panel {title!r}: {variable} in {expr}")
    if "$instance" in expr.replace('instance=~"$instance"', ""):
        problems.append(f'panel {title!r}: $instance outside an instance=~"$instance" selector in {expr}')
for problem in problems:
    print(problem, file=sys.stderr)
print(f"{path}: valid JSON, {len(targets)} queries" + (f", {len(problems)} problems" if problems else ", each using only $__rate_interval, $__range, $instance"))
sys.exit(1 if problems else 0)
EOF
}
check "dashboard $dashboard" check_dashboard

check_runbooks() {
    python3 - "$rules" "$operations" <<'EOF'
import re, sys
rules, operations = sys.argv[1], sys.argv[2]
# GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
def slug(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
with open(operations) as f:
    text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)   # not the comments in code blocks
anchors = {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}
with open(rules) as f:
    links = re.findall(r'runbook_url:\s*"?([^"\s]+)', f.read())
missing = [link for link in links if link.split("#", 1)[0] != operations or link.split("#", 1)[-1] not in anchors]
for link in missing:
    print(f"{rules}: runbook_url {link} is no heading of {operations}", file=sys.stderr)
print(f"{len(links)} runbook links, {len(links) - len(missing)} to headings of {operations}")
sys.exit(1 if missing or not links else 0)
EOF
}
check "runbook links of $rules" check_runbooks

if [ ${#failed[@]} -gt 0 ]; then
    printf 'monitoring checks FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
echo "monitoring checks passed: rules, rule tests, Prometheus config, dashboard, runbook links"

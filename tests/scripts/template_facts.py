"""Prints what tests/tests/template.rs checks in template.yaml, as JSON: per function
(by its Binary), the environment variables it gets (Globals merged) and the IAM actions of
its inline policies. Parsing is cfn-lint's (it reads CloudFormation's short-form tags).

    python template_facts.py template.yaml
"""
import json
import sys

from cfnlint.decode import decode


def names(variables):
    return sorted(k for k in (variables or {}) if isinstance(k, str))


def actions(policies):
    out = set()
    for policy in policies or []:
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            action = statement.get("Action", [])
            out.update([action] if isinstance(action, str) else action)
    return sorted(out)


def main(path):
    template, matches = decode(path)
    if matches:
        sys.exit("\n".join(str(m) for m in matches))
    global_env = names(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables")
    )
    functions = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        props = resource["Properties"]
        env = names(props.get("Environment", {}).get("Variables"))
        functions[binary] = {
            "env": sorted(set(env) | set(global_env)),
            "actions": actions(props.get("Policies")),
        }
    json.dump({"functions": functions}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])

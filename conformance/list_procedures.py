"""Print the installed cactus-test-definitions' server procedures as JSON (run by the harness's Python).

One object a procedure: its id, the client types it needs (null: any) and the seconds its wait
actions add up to, from which the runner sizes its timeout.
"""

import json

from cactus_test_definitions.server.test_procedures import TestProcedureId, get_test_procedure


def wait_s(procedure) -> int:
    total = 0
    for step in procedure.steps or []:
        if step.action.type == "wait":
            total += int((step.action.parameters or {}).get("duration_seconds") or 0)
    return total


def main() -> None:
    rows = []
    for procedure_id in TestProcedureId:
        procedure = get_test_procedure(procedure_id)
        clients = [
            None if c.client_type is None else str(c.client_type) for c in procedure.preconditions.required_clients
        ]
        rows.append({"procedure": str(procedure_id), "clients": clients, "wait_s": wait_s(procedure)})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

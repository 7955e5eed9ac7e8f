"""Print the installed cactus-test-definitions' server procedures as JSON (run by the harness's Python).

One object a procedure: its id, the client types it needs (null: any) and the seconds its wait and
simulate-client actions take, from which the runner sizes its timeout.
"""

import json

from cactus_test_definitions.server.test_procedures import TestProcedureId, get_test_procedure


def own_s(procedure) -> int:
    """Seconds the procedure's wait and simulate-client actions take by themselves."""
    total = 0
    for step in procedure.steps or []:
        params = step.action.parameters or {}
        if step.action.type == "wait":
            total += int(params.get("duration_seconds") or 0)
        elif step.action.type == "simulate-client":
            total += int(params.get("frequency_seconds") or 0) * int(params.get("total_simulations") or 1)
    return total


def main() -> None:
    rows = []
    for procedure_id in TestProcedureId:
        procedure = get_test_procedure(procedure_id)
        clients = [
            None if c.client_type is None else str(c.client_type) for c in procedure.preconditions.required_clients
        ]
        rows.append({"procedure": str(procedure_id), "clients": clients, "own_s": own_s(procedure)})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

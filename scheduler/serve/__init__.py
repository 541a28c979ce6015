"""`scheduler serve`: the task tree run and stopped (service), the servers' probes
(probes), the instance's heartbeat row (instances), and the checks `scheduler doctor` and
Diagnose report (doctor). How a start waits and fails is startup.py, shared with
`migrate`; the embedded servers are embedded.py, shared with the tests."""

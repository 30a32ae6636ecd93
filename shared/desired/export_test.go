package desired

// ProbeAccounts exposes probeAccounts to the external incremental tests.
var ProbeAccounts = probeAccounts

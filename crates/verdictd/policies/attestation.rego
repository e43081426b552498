# verdictd default attestation policy: verified claims => EAR trustworthiness vector.
#
# Input: the verifier's claims (tee, mrenclave/mrsigner or mrtd/rtmr*, isv_prod_id, isv_svn,
# debug, tcb_status, advisory_ids, report_data). Data: data.reference (name => list of values).
# Output: trust_vector, AR4SI claims: 2 = affirming, 32-95 = warning, 96-127 = contraindicated.
# The EAR status is the worst tier of the vector.
#
# Defaults deny: sim and sample evidence (no hardware protection), debug enclaves and TCB
# statuses other than UpToDate. An operator who wants something else sets another policy.
package policy

import rego.v1

# hardware: genuine TEE hardware on an up-to-date platform.
default hardware := 97

hardware := 2 if {
	input.tee in {"sgx", "tdx"}
	input.tcb_status == "UpToDate"
}

# configuration: debug enclaves and TDs expose their memory to the host.
default configuration := 96

configuration := 2 if not input.debug

# executables: the measurement is one of the reference values, when any are configured.
default executables := 33

executables := 2 if {
	count(object.get(data.reference, "mrenclave", [])) == 0
	count(object.get(data.reference, "mrtd", [])) == 0
}

executables := 2 if input.mrenclave in object.get(data.reference, "mrenclave", [])

executables := 2 if input.mrtd in object.get(data.reference, "mrtd", [])

trust_vector := {
	"hardware": hardware,
	"configuration": configuration,
	"executables": executables,
}

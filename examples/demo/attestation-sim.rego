# Demo attestation policy: accept this host's software TEE (sim) for enclaves whose MRENCLAVE
# is a registered reference value, and nothing else.
#
# sim evidence proves integrity and measurement only, with no confidentiality against root: an
# operator opts into it explicitly, as here. verdictd's default policy denies it.
package policy

import rego.v1

default hardware := 97

hardware := 2 if input.tee == "sim"

default configuration := 96

configuration := 2 if not input.debug

# Unlike the default policy, no reference values means no match.
default executables := 33

executables := 2 if input.mrenclave in object.get(data.reference, "mrenclave", [])

trust_vector := {
	"hardware": hardware,
	"configuration": configuration,
	"executables": executables,
}

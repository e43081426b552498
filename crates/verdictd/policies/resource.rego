# verdictd default resource policy: release a resource only to an affirming attestation.
#
# Input: the attestation token's claims (EAR: input.submods.cpu0["ear.status"], the
# trustworthiness vector and the verifier's claims under "ear.veraison.annotated-evidence").
# Data: data["resource-path"] ("repo/type/tag"), data.reference (name => list of values).
package policy

import rego.v1

default allow := false

allow if input.submods.cpu0["ear.status"] == "affirming"

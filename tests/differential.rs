//! Differential tests: the same bundles under rune and runc (see the module doc once written).

# What the running hub may do with Transit (see keys/vault): generate and
# unwrap data keys under carecrest-kek, re-wrap them after a rotation, and
# read the key's metadata. Rotating the key is for an operator.
path "transit/keys/carecrest-kek" {
  capabilities = ["read"]
}
path "transit/datakey/plaintext/carecrest-kek" {
  capabilities = ["update"]
}
path "transit/decrypt/carecrest-kek" {
  capabilities = ["update"]
}
path "transit/rewrap/carecrest-kek" {
  capabilities = ["update"]
}

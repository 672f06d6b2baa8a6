#!/bin/sh
# Prepares the Vault dev server for the hub (idempotent): the Transit
# engine, the derived key-encryption key carecrest-kek, the hub's policy,
# and a token with only that policy, written for the hub to read. Run by
# the vault-init service of docker-compose.yaml with the dev root token.
set -eu

until vault status >/dev/null 2>&1; do sleep 1; done

vault secrets list -format=json | grep -q '"transit/"' || vault secrets enable transit
vault read transit/keys/carecrest-kek >/dev/null 2>&1 ||
  vault write -f transit/keys/carecrest-kek type=aes256-gcm96 derived=true
vault policy write carecrest-hub /vault/init/carecrest-hub.hcl

umask 077
vault token create -orphan -policy=carecrest-hub -period=768h \
  -display-name=carecrest-hub -field=token > /run/carecrest/vault/token
chown 65532:65532 /run/carecrest/vault/token   # the hub image's user
chmod 0400 /run/carecrest/vault/token
echo "vault-init: transit/keys/carecrest-kek ready; hub token written"

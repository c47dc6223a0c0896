#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make_ca.sh DIR: creates, in DIR (made if missing, mode 700), a throwaway
# test CA and certificates for the Key Vault emulator, with the openssl CLI:
#   ca.pem, ca.key             the test CA (clients trust ca.pem)
#   server.pem, server.key     signed by the CA; subjectAltName
#                              IP:127.0.0.1, DNS:localhost
#   wrong-name.pem, .key       signed by the CA, but only for DNS:wrong.invalid
#                              (a client connecting to 127.0.0.1 must refuse it)
#   other-ca.pem               a second CA that signed nothing here (a client
#                              trusting only it must refuse server.pem)
# Keys are made fresh on every run and live only in DIR: never commit them.
set -euo pipefail
dir=${1:?usage: make_ca.sh DIR}
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077
days=2

cat > ca.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cmkfs test CA (throwaway)
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = IP:127.0.0.1, DNS:localhost
[wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:wrong.invalid
EOF

q() { "$@" 2>/dev/null || { echo "make_ca.sh: failed: $*" >&2; "$@"; exit 1; }; }

q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
  -days "$days" -config ca.cnf -extensions v3_ca -sha256
q openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem \
  -days "$days" -config ca.cnf -extensions v3_ca -sha256 -subj "/CN=cmkfs other test CA"

sign() {
  local name=$1 ext=$2 cn=$3
  q openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/CN=$cn"
  q openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$name.pem" -days "$days" -sha256 -extfile ca.cnf -extensions "$ext"
  rm -f "$name.csr"
}
sign server server 127.0.0.1
sign wrong-name wrong wrong.invalid
rm -f other-ca.key ca.srl
chmod 600 ./*.key
chmod 644 ./*.pem
openssl verify -CAfile ca.pem server.pem >/dev/null

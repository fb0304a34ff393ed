#!/usr/bin/env bash
# Make a throwaway demo CA and a server certificate for localhost and 127.0.0.1 (ECDSA
# P-256, short validity) in DIR, for xchg-matcherd demos and tests. Never use these for
# real data: the CA key sits next to the certificates. Writes:
#   DIR/ca.pem DIR/ca.key          the demo CA (pin it with `xchg submit --ca DIR/ca.pem`)
#   DIR/server.pem DIR/server.key  the daemon's certificate and key (--cert, --tls-key)
# Usage: scripts/make-demo-ca.sh DIR [DAYS]   (DAYS defaults to 7)
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && exit 0 || exit 2
fi
dir=$1
days=${2:-7}
mkdir -p "$dir"
umask 077
cd "$dir"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=exchange demo CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
  -sha256 -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 644 ca.pem server.pem
echo "demo CA in $dir: ca.pem (pin with --ca), server.pem + server.key (daemon --cert/--tls-key)"

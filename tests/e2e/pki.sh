# SPDX-License-Identifier: MIT
# A throw-away PKI for tests: a CA, a collector and an agent certificate
# (both valid for 127.0.0.1/localhost), and a rogue CA with an agent
# certificate the collector must refuse. EC P-256 keys: fast to make.
#
#   pki_make DIR

_pki_cert() { # dir ca name
	local d=$1 ca=$2 n=$3
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/$n.key" 2>/dev/null &&
	openssl req -new -key "$d/$n.key" -subj "/CN=$n" -out "$d/$n.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
		>"$d/$n.ext" &&
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
		-CAcreateserial -days 2 -out "$d/$n.pem" -extfile "$d/$n.ext" 2>/dev/null
}

pki_make() {
	local d=$1 ca
	mkdir -p "$d" || return 1
	for ca in ca rogue-ca; do
		openssl ecparam -name prime256v1 -genkey -noout -out "$d/$ca.key" 2>/dev/null &&
		openssl req -x509 -new -key "$d/$ca.key" -subj "/CN=stagetrace test $ca" \
			-days 2 -out "$d/$ca.pem" 2>/dev/null || return 1
	done
	_pki_cert "$d" ca collector && _pki_cert "$d" ca agent && _pki_cert "$d" rogue-ca rogue-agent
}

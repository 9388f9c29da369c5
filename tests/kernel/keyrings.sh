# Sourced by the signed-BPF kernel tests: user keyrings holding one certificate each, as
# eimad's keyring will. new_keyring runs in $(...), so unlink_keyrings (call it from the
# test's EXIT trap) finds them by name: every eima-test-* keyring in the user keyring.
new_keyring() { # NAME CERT.pem -> prints the new keyring's serial
	local kr
	kr=$(keyctl newring "$1" @u) || return 1
	openssl x509 -in "$2" -outform DER | keyctl padd asymmetric "" "$kr" >/dev/null || return 1
	echo "$kr"
}
unlink_keyrings() {
	local k
	for k in $(keyctl rlist @u 2>/dev/null); do
		[[ $(keyctl rdescribe "$k" 2>/dev/null) == keyring\;*\;eima-test-* ]] &&
			keyctl unlink "$k" @u >/dev/null 2>&1
	done
	return 0
}

package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/crypto/ssh"
)

// LoadIdentity reads an OpenSSH or PEM private key file for client
// authentication after [CheckPrivateFile] accepts it. If the key is encrypted
// it asks prompt for the passphrase with the question OpenSSH asks
// ("Enter passphrase for key 'PATH': ") and zeroes the returned bytes after
// use. A nil prompt, an error from prompt, or a wrong passphrase gives an
// error naming the file; no error ever holds the passphrase.
func LoadIdentity(path string, prompt func(question string) ([]byte, error)) (ssh.Signer, error) {
	data, err := readChecked(path, checkPrivate, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("load identity %s: file is larger than 64 KiB", path)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return decryptIdentity(path, data, prompt)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", path, err)
	}
	return signer, nil
}

func decryptIdentity(path string, data []byte, prompt func(string) ([]byte, error)) (ssh.Signer, error) {
	if prompt == nil {
		return nil, fmt.Errorf("key %s is passphrase-protected and no terminal is available to ask for the passphrase (load it into ssh-agent instead)", path)
	}
	pass, err := prompt(fmt.Sprintf("Enter passphrase for key '%s': ", path))
	defer clear(pass)
	if err != nil {
		return nil, fmt.Errorf("key %s: read passphrase: %w", path, err)
	}
	if len(pass) == 0 { // an encrypted key never has an empty passphrase
		return nil, fmt.Errorf("key %s: wrong passphrase", path)
	}
	signer, err := ssh.ParsePrivateKeyWithPassphrase(data, pass)
	if err != nil && (errors.Is(err, x509.IncorrectPasswordError) || legacyEncrypted(data)) {
		return nil, fmt.Errorf("key %s: wrong passphrase", path)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", path, err)
	}
	return signer, nil
}

// legacyEncrypted reports whether data is a PEM key encrypted the legacy
// way (a DEK-Info header). That format has no check value, so a wrong
// passphrase can also surface as a parse error of the decrypted bytes.
func legacyEncrypted(data []byte) bool {
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	_, ok := block.Headers["DEK-Info"]
	return ok
}

// ReadIdentityPublicKey returns the public half of the identity at path
// without decrypting it: from PATH.pub if that exists, else from the public
// key that an OpenSSH-format private key file carries in the clear. It is
// used to pick the matching key from ssh-agent. The private key file's mode is
// not checked, since its secret is not used.
func ReadIdentityPublicKey(path string) (ssh.PublicKey, error) {
	key, _, err := ReadPublicKeyFile(path + ".pub")
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read identity public key: %w", err)
	}
	data, err := readChecked(path, checkRegular, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("read identity public key: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("read identity public key %s: file is larger than 64 KiB", path)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return signer.PublicKey(), nil
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if missing.PublicKey != nil {
			return missing.PublicKey, nil
		}
		return nil, fmt.Errorf("read identity public key: key %s is passphrase-protected and carries no public key; create %s.pub (ssh-keygen -y -f %s > %s.pub)",
			path, path, shellQuote(path), shellQuote(path))
	}
	return nil, fmt.Errorf("read identity public key %s: %w", path, err)
}

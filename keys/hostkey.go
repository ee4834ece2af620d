package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// maxKeyFileSize bounds what is read from a private or public key file.
const maxKeyFileSize = 64 << 10

// GenerateHostKey creates a new ed25519 host key: the private key at path in
// OpenSSH format with mode 0600, and path+".pub" as an authorized_keys line
// carrying comment, with mode 0644. It never overwrites: if either file exists
// the error wraps [fs.ErrExist] and nothing is written.
func GenerateHostKey(path, comment string) (ssh.Signer, error) {
	if err := checkComment(comment); err != nil {
		return nil, fmt.Errorf("generate host key %s: %w", path, err)
	}
	pubPath := path + ".pub"
	if _, err := os.Lstat(pubPath); err == nil {
		return nil, fmt.Errorf("generate host key: %w", existError(pubPath))
	}
	signer, pemBytes, err := newHostKey(comment)
	if err != nil {
		return nil, fmt.Errorf("generate host key %s: %w", path, err)
	}
	if err := CreateFileExclusive(path, pemBytes, 0o600); err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	line := FormatAuthorizedKey(AuthorizedKey{Key: signer.PublicKey(), Comment: comment}) + "\n"
	if err := CreateFileExclusive(pubPath, []byte(line), 0o644); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	return signer, nil
}

func newHostKey(comment string) (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}

// LoadHostKey reads the private host key at path after [CheckPrivateFile]
// accepts it. It never generates a key; a missing, corrupt or
// passphrase-protected file is an error naming the file.
func LoadHostKey(path string) (ssh.Signer, error) {
	data, err := readChecked(path, checkPrivate, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("load host key: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("load host key %s: file is larger than 64 KiB", path)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("host key %s is passphrase-protected; the gateway needs an unencrypted key", path)
	}
	if err != nil {
		return nil, fmt.Errorf("load host key %s: %w", path, err)
	}
	return signer, nil
}

// ReadPublicKeyFile reads a file holding one public key as a single line
// "key-type base64 [comment]" without options, as ssh-keygen writes it. Blank
// lines and '#' comment lines are ignored. Errors name the file.
func ReadPublicKeyFile(path string) (key ssh.PublicKey, comment string, err error) {
	data, err := readChecked(path, checkRegular, maxKeyFileSize)
	if err != nil {
		return nil, "", fmt.Errorf("read public key: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, "", fmt.Errorf("read public key %s: file is larger than 64 KiB", path)
	}
	k, err := parsePublicKeyFile(data)
	if err != nil {
		return nil, "", fmt.Errorf("read public key %s: %w", path, err)
	}
	return k.Key, k.Comment, nil
}

func parsePublicKeyFile(data []byte) (AuthorizedKey, error) {
	var found []AuthorizedKey
	for n, raw := range numberedLines(data) {
		line := trimLine(raw)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, hasOptions, err := parseLine(line)
		if err != nil {
			return AuthorizedKey{}, fmt.Errorf("line %d: %w", n, err)
		}
		if hasOptions {
			return AuthorizedKey{}, fmt.Errorf("line %d: options are not allowed in a public key file", n)
		}
		found = append(found, k)
	}
	switch len(found) {
	case 0:
		return AuthorizedKey{}, errors.New("no public key found")
	case 1:
		return found[0], nil
	default:
		return AuthorizedKey{}, fmt.Errorf("file holds %d keys; want exactly one", len(found))
	}
}

// Fingerprint returns the SHA256 fingerprint of k as ssh-keygen -l prints it
// ("SHA256:" followed by unpadded base64).
func Fingerprint(k ssh.PublicKey) string {
	return ssh.FingerprintSHA256(k)
}

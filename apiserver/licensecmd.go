package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/meshoptixiq/mesh/common/license"
)

// licenseCmd makes licence keys for operators who offer tiers:
//
//	apiserver license keygen --private-key FILE   (prints the public key)
//	apiserver license issue --private-key FILE --plan P [--expires DATE] [--devices N] [--licensee NAME]
func licenseCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("license: want keygen or issue (apiserver license issue --help)")
	}
	fs := flag.NewFlagSet("apiserver license "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("private-key", "", "the Ed25519 private key file: base64 of the raw 32-byte seed, or PEM PKCS#8")
	switch args[0] {
	case "keygen":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *keyFile == "" {
			return errors.New("license keygen: --private-key FILE is required (it is created, mode 0600)")
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(*keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("license keygen: %w", err)
		}
		if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(priv.Seed())); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "MESHQ_LICENSE_PUBLIC_KEY=%s\n", base64.StdEncoding.EncodeToString(pub))
		return err
	case "issue":
		plan := fs.String("plan", "", "community, starter, pro or enterprise")
		expires := fs.String("expires", "", "last day of validity, YYYY-MM-DD (UTC, valid through that day); empty: perpetual")
		devices := fs.Int("devices", 0, "device limit; 0: none")
		licensee := fs.String("licensee", "", "who the licence is for")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *keyFile == "" || *plan == "" {
			return errors.New("license issue: --private-key FILE and --plan are required")
		}
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("license issue: %w", err)
		}
		priv, err := license.ParsePrivateKey(b)
		if err != nil {
			return fmt.Errorf("license issue: --private-key %s: %w", *keyFile, err)
		}
		p := license.Payload{Plan: *plan, Licensee: *licensee, Issued: time.Now().UTC().Truncate(time.Second), Devices: *devices}
		if *expires != "" {
			day, err := time.Parse(time.DateOnly, *expires)
			if err != nil {
				return fmt.Errorf("license issue: --expires %q is not YYYY-MM-DD", *expires)
			}
			p.Expires = day.AddDate(0, 0, 1) // valid through the named day
		}
		if *devices < 0 {
			return errors.New("license issue: --devices must not be negative")
		}
		key, err := license.Issue(p, priv)
		if err != nil {
			return fmt.Errorf("license issue: %w", err)
		}
		_, err = fmt.Fprintln(stdout, key)
		return err
	}
	return fmt.Errorf("license: unknown command %q; want keygen or issue", args[0])
}

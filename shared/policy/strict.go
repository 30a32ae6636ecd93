package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// elementNames are the policy grammar's element names at document and
// statement level. IAM matches them case-sensitively; encoding/json does not.
var elementNames = []string{"Version", "Id", "Statement", "Sid", "Effect", "Principal", "NotPrincipal",
	"Action", "NotAction", "Resource", "NotResource", "Condition"}

// checkStrict walks the document's JSON before it is decoded and refuses
// what encoding/json would silently reinterpret: a key twice in one object
// (the decoder keeps the last, so `"Statement":[theirs],"Statement":[]`
// would drop a foreign statement from the next write, and a doubled Effect
// or Principal would make the guard judge a value AWS may not use), an
// element name in another case (`"sid":"EcrWardenX"` would be read as an
// owned Sid), and data after the document.
func checkStrict(text string) error {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := walkValue(dec, "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the document")
	}
	return nil
}

// walkValue reads one value; depth counts the objects around it (1 is the
// document, 2 a statement, whether alone or in the list).
func walkValue(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, fmt.Sprintf("%s[%d]", path, i), depth); err != nil {
				return err
			}
		}
	case '{':
		depth++
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			at := strings.TrimPrefix(path+"."+k, ".")
			if seen[k] {
				return fmt.Errorf("%s: key %q appears twice in one object; which one AWS applies is ambiguous", at, k)
			}
			seen[k] = true
			if depth <= 2 {
				for _, name := range elementNames {
					if k != name && strings.EqualFold(k, name) {
						return fmt.Errorf("%s: element %q must be spelled %q (policy element names are case-sensitive)", at, k, name)
					}
				}
			}
			if err := walkValue(dec, at, depth); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// validVersion reports whether v is a policy language version AWS accepts
// ("" means the legacy default).
func validVersion(v string) bool {
	return v == "" || v == VersionCurrent || v == VersionLegacy
}

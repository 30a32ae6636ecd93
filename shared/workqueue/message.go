package workqueue

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Message is a unit as its message body carries it. A unit whose plain
// body fits SQS's limit is sent exactly as json.Marshal writes its
// reconcile.Work, and AccountsGz is empty. A larger one (a unit that
// carries an organization of more than about 2,000 accounts, each 120 to
// 150 bytes of JSON) carries its accounts as AccountsGz instead, "accounts"
// being null: the accounts' JSON array, gzipped, in standard base64.
//
// Why the limit itself is the threshold, and not something lower that would
// pack more units into each SendMessageBatch call: every body that SQS
// takes today stays byte for byte what it was, so a staggered deploy (a new
// backfill in front of an old worker) only sends the old worker compressed
// units for organizations whose runs were refused outright before; an old
// worker does not know the field, and keeps such a unit through SQS's
// retries into the dead-letter queue (its unknown-field rejection). Why
// gzip and base64 in a field of its own: the rest of the unit stays plain
// JSON that the worker reads strictly and a rejected unit's audit record
// quotes, and gzip's checksum catches a body cut or altered on the way. An
// account entry shrinks to about 24 bytes of base64 with its name, 13
// without (the ids are random, the OU paths and keys repeat).
type Message struct {
	reconcile.Work
	AccountsGz string `json:"accountsGz,omitempty"`
}

// MaxAccountsJSON bounds the accounts' JSON a message may carry
// compressed: the sender refuses a unit past it and the worker stops
// inflating there, so no body can make the worker hold more (gzip inflates
// up to about a thousandfold: 256 KiB of it could be 256 MB). 4 MiB is
// about 36,000 accounts, far more than fit in a message compressed (about
// FitAccounts), and a few per cent of the worker's memory for each of the
// 4 units it converges at once.
const MaxAccountsJSON = 4 << 20

// FitAccounts is about the largest organization whose unit fits one
// message, rounded down from what TestFitAccountsIsMeasured finds (about
// 11,000) with random 12-digit ids, names of a team, a workload and an
// environment, and OU paths two to four levels deep under about a hundred
// OUs. The backfill's units carry no names (about 19,500 fit then); an
// account event's do. Sent plain, as before, about 1,700 fit (2,050
// without names).
const FitAccounts = 10000

// encoder encodes the units of one Send. The units of a run share one
// accounts slice (the organization as the backfill walked it), so the
// accounts are marshalled and compressed once per slice, not once per unit:
// 20,000 units of a 5,000-account organization would otherwise gzip 12 GB
// of JSON. It remembers the last slice only, and only within one Send, in
// which nobody changes the units.
type encoder struct {
	key   accountsKey
	plain []byte // the accounts' JSON
	gz    string // plain gzipped and in base64, once needed
}

// accountsKey is a slice's identity: its first element and its length.
type accountsKey struct {
	first *desired.Account
	n     int
}

// encode is a unit's message body (Message), or an error naming a unit
// over SQS's message limit even with its accounts compressed.
func (e *encoder) encode(w reconcile.Work) ([]byte, error) {
	if len(w.Accounts) == 0 {
		return plainBody(w)
	}
	if key := (accountsKey{&w.Accounts[0], len(w.Accounts)}); key != e.key {
		plain, err := json.Marshal(w.Accounts)
		if err != nil {
			return nil, fmt.Errorf("encoding the accounts of unit %s/%s: %w", w.Account, w.Region, err)
		}
		*e = encoder{key: key, plain: plain}
	}
	rest := w
	rest.Accounts = nil
	restBody, err := json.Marshal(rest)
	if err != nil {
		return nil, fmt.Errorf("encoding unit %s/%s: %w", w.Account, w.Region, err)
	}
	// The plain body is the rest with "null" replaced by the accounts'
	// array, byte for byte as json.Marshal(w) writes it.
	if len(restBody)-len("null")+len(e.plain) <= MaxMessageBytes {
		return plainBody(w)
	}
	if len(e.plain) > MaxAccountsJSON {
		return nil, tooLarge(w, fmt.Sprintf("its %d accounts are %d bytes of JSON, over the %d the worker inflates", len(w.Accounts), len(e.plain), MaxAccountsJSON))
	}
	if e.gz == "" {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		_, _ = zw.Write(e.plain)                                 // a bytes.Buffer does not fail
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compressing the accounts of unit %s/%s: %w", w.Account, w.Region, err)
		}
		e.gz = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	body, err := json.Marshal(Message{Work: rest, AccountsGz: e.gz})
	if err != nil {
		return nil, fmt.Errorf("encoding unit %s/%s: %w", w.Account, w.Region, err)
	}
	if len(body) > MaxMessageBytes {
		return nil, tooLarge(w, fmt.Sprintf("it is %d bytes with its %d accounts compressed, over the SQS message limit of %d", len(body), len(w.Accounts), MaxMessageBytes))
	}
	return body, nil
}

func plainBody(w reconcile.Work) ([]byte, error) {
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding unit %s/%s: %w", w.Account, w.Region, err)
	}
	return body, nil
}

// tooLarge is the refusal of a unit no message can carry, why being what
// was measured of it.
func tooLarge(w reconcile.Work, why string) error {
	return fmt.Errorf("unit %s/%s cannot be sent: %s. The organization is too large to ship with every unit: a unit carries an organization of up to about %d accounts (measured with random account ids, names and OU paths two to four levels deep); use condition-mode grants (aws:PrincipalOrgID / aws:PrincipalOrgPaths) instead of enumerate", w.Account, w.Region, why, FitAccounts)
}

// MaxProblemsNamed bounds the problems a rejected unit's record lists one
// by one (its body's, and its compressed accounts'); the rest are counted
// (trigger.JoinProblems), so the record fits the audit table however large
// the body.
const MaxProblemsNamed = 20

// Unit is the message's unit, its accounts inflated from AccountsGz when
// it carries them so. The inflated accounts are read as strictly as the
// worker reads a body (no unknown field, no key given twice, nothing after
// the array) and never past MaxAccountsJSON; the errors name the unit as
// far as its fields say and the field.
func (m Message) Unit() (reconcile.Work, error) {
	w := m.Work
	if m.AccountsGz == "" {
		return w, nil
	}
	name := "unit " + strconv.Quote(trigger.Clip(w.Account)) + "/" + strconv.Quote(trigger.Clip(w.Region))
	if len(w.Accounts) > 0 {
		return w, fmt.Errorf("%s carries both accounts and accountsGz", name)
	}
	raw, err := base64.StdEncoding.DecodeString(m.AccountsGz)
	if err != nil {
		return w, fmt.Errorf("accountsGz of %s is not base64: %s", name, trigger.Clip(err.Error()))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return w, fmt.Errorf("accountsGz of %s is not gzip: %s", name, trigger.Clip(err.Error()))
	}
	plain, err := io.ReadAll(io.LimitReader(zr, MaxAccountsJSON+1))
	if err != nil {
		return w, fmt.Errorf("accountsGz of %s is not valid gzip: %s", name, trigger.Clip(err.Error()))
	}
	if len(plain) > MaxAccountsJSON {
		return w, fmt.Errorf("accountsGz of %s inflates past %d bytes, more than any organization the sender ships (it refuses such a unit)", name, MaxAccountsJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	var accounts []desired.Account
	if err := dec.Decode(&accounts); err != nil {
		return w, fmt.Errorf("accountsGz of %s is not a list of accounts: %s", name, trigger.Clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return w, fmt.Errorf("accountsGz of %s: unexpected data after the list of accounts", name)
	}
	// The same check as the outer body's (the worker's decodeWork): a key
	// given twice keeps its last value here and may keep its first for
	// another reader, so neither is trusted. Run on a list that decoded, so
	// every path starts with its index.
	if dups := config.DuplicateKeys(plain); len(dups) > 0 {
		msgs := make([]string, len(dups))
		for i, p := range dups {
			p.Path = "accountsGz" + p.Path
			msgs[i] = trigger.Clip(p.String())
		}
		return w, fmt.Errorf("accountsGz of %s: %s", name, trigger.JoinProblems(msgs, MaxProblemsNamed))
	}
	w.Accounts = accounts
	return w, nil
}

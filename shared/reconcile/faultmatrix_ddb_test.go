package reconcile

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The fault matrix's lease table keeps its items as DynamoDB does and
// evaluates the expressions shared/lease sends (the lease's take, renewal,
// release and want, and the hub registry policy's mailbox: post, take and
// open in one transaction, peek, close and release in one transaction,
// abandon, mark): conditions that are an OR of ANDs of
// attribute_exists/attribute_not_exists and comparisons, and updates of
// SET a = v, REMOVE a and ADD a n clauses. Anything else is an error, so
// an expression the lease package starts sending is noticed, not misread.

// ddbItem is one item: attribute name -> value.
type ddbItem map[string]ddbtypes.AttributeValue

// ddbOperand resolves a #name or :value of an expression against item.
func ddbOperand(item ddbItem, tok string, names map[string]string, values map[string]ddbtypes.AttributeValue) (ddbtypes.AttributeValue, bool, error) {
	switch {
	case strings.HasPrefix(tok, ":"):
		v, ok := values[tok]
		if !ok {
			return nil, false, fmt.Errorf("matrix table: value %s not given", tok)
		}
		return v, true, nil
	case strings.HasPrefix(tok, "#"):
		n, ok := names[tok]
		if !ok {
			return nil, false, fmt.Errorf("matrix table: name %s not given", tok)
		}
		v, ok := item[n]
		return v, ok, nil
	}
	return nil, false, fmt.Errorf("matrix table: operand %q is neither #name nor :value", tok)
}

// ddbCompare compares two scalars of one type (N numerically, S as
// strings): -1, 0, 1.
func ddbCompare(a, b ddbtypes.AttributeValue) (int, error) {
	switch x := a.(type) {
	case *ddbtypes.AttributeValueMemberN:
		y, ok := b.(*ddbtypes.AttributeValueMemberN)
		if !ok {
			return 0, fmt.Errorf("matrix table: comparing N with %T", b)
		}
		p, err1 := strconv.ParseFloat(x.Value, 64)
		q, err2 := strconv.ParseFloat(y.Value, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("matrix table: numbers %q, %q", x.Value, y.Value)
		}
		switch {
		case p < q:
			return -1, nil
		case p > q:
			return 1, nil
		}
		return 0, nil
	case *ddbtypes.AttributeValueMemberS:
		y, ok := b.(*ddbtypes.AttributeValueMemberS)
		if !ok {
			return 0, fmt.Errorf("matrix table: comparing S with %T", b)
		}
		return strings.Compare(x.Value, y.Value), nil
	}
	return 0, fmt.Errorf("matrix table: comparing %T", a)
}

// ddbCondition evaluates cond on item (nil: no item); "" holds.
func ddbCondition(item ddbItem, cond string, names map[string]string, values map[string]ddbtypes.AttributeValue) (bool, error) {
	if cond == "" {
		return true, nil
	}
	for _, or := range strings.Split(cond, " OR ") {
		all := true
		for _, atom := range strings.Split(or, " AND ") {
			ok, err := ddbAtom(item, strings.TrimSpace(atom), names, values)
			if err != nil {
				return false, err
			}
			all = all && ok
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

func ddbAtom(item ddbItem, atom string, names map[string]string, values map[string]ddbtypes.AttributeValue) (bool, error) {
	for _, fn := range []string{"attribute_not_exists", "attribute_exists"} {
		if arg, ok := strings.CutPrefix(atom, fn+"("); ok {
			_, exists, err := ddbOperand(item, strings.TrimSuffix(arg, ")"), names, values)
			return exists == (fn == "attribute_exists"), err
		}
	}
	f := strings.Fields(atom)
	if len(f) != 3 {
		return false, fmt.Errorf("matrix table: condition %q", atom)
	}
	a, aok, err := ddbOperand(item, f[0], names, values)
	if err != nil {
		return false, err
	}
	b, bok, err := ddbOperand(item, f[2], names, values)
	if err != nil {
		return false, err
	}
	if !aok || !bok {
		return f[1] == "<>", nil // a missing attribute compares false (but <>)
	}
	c, err := ddbCompare(a, b)
	if err != nil {
		return false, err
	}
	switch f[1] {
	case "=":
		return c == 0, nil
	case "<>":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, fmt.Errorf("matrix table: comparator %q", f[1])
}

// ddbUpdate applies update to a copy of item (nil: none yet, created
// with key) and returns it.
func ddbUpdate(item, key ddbItem, update string, names map[string]string, values map[string]ddbtypes.AttributeValue) (ddbItem, error) {
	out := ddbItem{}
	maps.Copy(out, key)
	maps.Copy(out, item)
	name := func(tok string) (string, error) {
		n, ok := names[tok]
		if !ok {
			return "", fmt.Errorf("matrix table: name %q not given in update %q", tok, update)
		}
		return n, nil
	}
	// Split into clauses at the keywords.
	var clauses [][2]string
	for _, w := range strings.Fields(update) {
		if w == "SET" || w == "REMOVE" || w == "ADD" {
			clauses = append(clauses, [2]string{w, ""})
			continue
		}
		if len(clauses) == 0 {
			return nil, fmt.Errorf("matrix table: update %q", update)
		}
		clauses[len(clauses)-1][1] += " " + w
	}
	for _, c := range clauses {
		for _, part := range strings.Split(c[1], ",") {
			f := strings.Fields(part)
			switch {
			case c[0] == "SET" && len(f) == 3 && f[1] == "=":
				n, err := name(f[0])
				if err != nil {
					return nil, err
				}
				v, ok := values[f[2]]
				if !ok {
					return nil, fmt.Errorf("matrix table: value %s not given", f[2])
				}
				out[n] = v
			case c[0] == "REMOVE" && len(f) == 1:
				n, err := name(f[0])
				if err != nil {
					return nil, err
				}
				delete(out, n)
			case c[0] == "ADD" && len(f) == 2:
				n, err := name(f[0])
				if err != nil {
					return nil, err
				}
				add, ok := values[f[1]].(*ddbtypes.AttributeValueMemberN)
				if !ok {
					return nil, fmt.Errorf("matrix table: ADD of %s, not a number", f[1])
				}
				var cur int64
				if v, ok := out[n].(*ddbtypes.AttributeValueMemberN); ok {
					cur, _ = strconv.ParseInt(v.Value, 10, 64)
				}
				d, _ := strconv.ParseInt(add.Value, 10, 64)
				out[n] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(cur+d, 10)}
			default:
				return nil, fmt.Errorf("matrix table: %s clause %q of update %q", c[0], part, update)
			}
		}
	}
	return out, nil
}

// ddbAllOld is item as ReturnValuesOnConditionCheckFailure ALL_OLD
// returns it (nil when not asked or no item).
func ddbAllOld(item ddbItem, ret ddbtypes.ReturnValuesOnConditionCheckFailure) map[string]ddbtypes.AttributeValue {
	if ret != ddbtypes.ReturnValuesOnConditionCheckFailureAllOld || item == nil {
		return nil
	}
	return maps.Clone(item)
}

// ddbConditionFailed is DynamoDB's refusal of a condition, with item.
func ddbConditionFailed(item map[string]ddbtypes.AttributeValue) error {
	return &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: item}
}

package trigger

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestGenuineShapesAreAccepted: the checks of fields ecr-warden does not
// read (types, eventType, errorCode/errorMessage, routes) must never refuse
// what AWS sends. Every routed sample is fed again with the fields real
// CloudTrail records carry beside the ones the samples hold, each in the
// type AWS gives it: the detail's own resources (an array of objects
// {accountId, type, ARN}, unlike the envelope's array of ARN strings),
// sessionCredentialFromConsole ("true", a string) and the session's
// attributes (mfaAuthenticated "false", a string) of a call made in the
// console, additionalEventData, tlsDetails, requestID, eventCategory,
// vpcEndpointId, an errorMessage that is null, and an envelope resources
// naming ARNs. Each must parse to the same target as the sample.
func TestGenuineShapesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(b)
		if err != nil || want.Trigger.DetailType == DetailTypeScheduled {
			continue // the rejected samples say why elsewhere; the schedule has no CloudTrail record
		}
		if _, _, ok := RouteOf(want.Trigger); !ok {
			continue
		}
		tried++
		raw := mutate(t, name, func(ev map[string]any) {
			ev["resources"] = []any{"arn:aws:ecr:us-east-1:111111111111:repository/shared/base"}
			d := detail(ev)
			d["resources"] = []any{map[string]any{"accountId": "111111111111", "type": "AWS::ECR::Repository", "ARN": "arn:aws:ecr:us-east-1:111111111111:repository/shared/base"}}
			d["additionalEventData"] = map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256"}
			d["tlsDetails"] = map[string]any{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "api.example"}
			d["requestID"] = "72839405-b6c7-4d8e-9fa0-a1b2c3d4e5f6"
			d["eventCategory"] = "Management"
			d["vpcEndpointId"] = "vpce-0123456789abcdef0"
			d["errorMessage"] = nil
			if id, ok := d["userIdentity"].(map[string]any); ok && id["type"] != "AWSService" && id["arn"] != nil {
				d["sessionCredentialFromConsole"] = "true"
				sc, _ := id["sessionContext"].(map[string]any)
				if sc == nil {
					sc = map[string]any{}
					id["sessionContext"] = sc
				}
				sc["attributes"] = map[string]any{"creationDate": "2025-03-10T08:59:00Z", "mfaAuthenticated": "false"}
				sc["webIdFederationData"] = map[string]any{}
			}
		})
		got, err := Parse(raw)
		if err != nil {
			t.Errorf("%s with the fields AWS adds: Parse = %v; want it accepted as the sample is", name, err)
			continue
		}
		if got.Kind != want.Kind || got.AccountID != want.AccountID || got.Region != want.Region || got.Repository != want.Repository ||
			got.RoleName != want.RoleName || got.Prefix != want.Prefix || !reflect.DeepEqual(got.Trigger.Actor, want.Trigger.Actor) {
			t.Errorf("%s with the fields AWS adds: target %+v, want %+v", name, got, want)
		}
	}
	if tried < 20 {
		t.Fatalf("only %d routed samples tried; want every routed sample under events/", tried)
	}
}

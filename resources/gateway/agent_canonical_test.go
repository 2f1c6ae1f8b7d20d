package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// canonicalFixtures are written by testdata/agent_fixtures.mts from Berth's own code (the canonicalize package).
type canonicalFixtures struct {
	Values []struct {
		JSON      string `json:"json"`
		Canonical string `json:"canonical"`
	} `json:"values"`
	StateFile         string `json:"stateFile"`
	RevisionCanonical string `json:"revisionCanonical"`
}

func loadCanonicalFixtures(t *testing.T) canonicalFixtures {
	t.Helper()
	data, err := os.ReadFile("testdata/agent_canonical.json")
	if err != nil {
		t.Fatal(err)
	}
	var f canonicalFixtures
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCanonicalJSONMatchesTheTypeScriptPackage(t *testing.T) {
	f := loadCanonicalFixtures(t)
	if len(f.Values) < 6 {
		t.Fatalf("only %d fixtures", len(f.Values))
	}
	for _, v := range f.Values {
		got, err := canonicalJSON([]byte(v.JSON))
		if err != nil {
			t.Fatalf("%s: %v", v.JSON, err)
		}
		if string(got) != v.Canonical {
			t.Errorf("canonical of %s\n got %s\nwant %s", v.JSON, got, v.Canonical)
		}
	}
}

func TestAStateFileWrittenByBerthVerifies(t *testing.T) {
	f := loadCanonicalFixtures(t)
	line := strings.TrimSuffix(f.StateFile, "\n")
	c := checkState("prod", []byte(line))
	if !c.verified() {
		t.Fatalf("Berth's state file does not verify: %s", c.Problem)
	}
	canonical, _ := canonicalJSON(c.File.Revision)
	if string(canonical) != f.RevisionCanonical {
		t.Fatalf("revision canonical differs:\n got %s\nwant %s", canonical, f.RevisionCanonical)
	}
	if c.Rev.Revision != 3 || c.Rev.State.Settings.PeerToken == "" || c.Rev.State.Models["iris"].Versions[0].Resources.CPUs != 0.5 {
		t.Fatalf("revision read wrongly: %+v", c.Rev)
	}
	if other := checkState("stage", []byte(line)); other.verified() || !strings.Contains(other.Problem, `names group "prod"`) {
		t.Fatalf("a copy under another group's folder verified: %q", other.Problem)
	}
	tampered := strings.Replace(line, `"public":false`, `"public":true`, 1)
	if tampered == line {
		t.Fatal("fixture has nothing to tamper with")
	}
	if c := checkState("prod", []byte(tampered)); c.verified() || !strings.Contains(c.Problem, "does not match its hash") {
		t.Fatalf("a tampered copy verified: %q", c.Problem)
	}
}

func TestCanonicalNumbersFollowJavaScript(t *testing.T) {
	cases := map[string]string{
		"0.5": "0.5", "1.25": "1.25", "-0": "0", "1e21": "1e+21", "1e20": "100000000000000000000", "1e-7": "1e-7",
		"0.000001": "0.000001", "123.456e5": "12345600", "-2.5E-8": "-2.5e-8", "5e-324": "5e-324",
	}
	for in, want := range cases {
		got, err := canonicalJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %s (%v), want %s", in, got, err, want)
		}
	}
}

package main

// The Go twin of electron/main/services/groups/derive.ts deriveRoutes: what one server's gateway serves, from the
// verified states of the groups it belongs to and their revocations. The agent writes it after a catch-up, so
// it must derive exactly what Berth would.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// deriveRoutes is the gateway table of the server uid, without its revision (the writer stamps it). Group
// names and key ids are ASCII (their schemas say so), where byte order is localeCompare's order. The whole table
// is HTTPS-only when every group of the server is; otherwise each HTTPS group's models are.
func deriveRoutes(states map[string]groupState, revocations map[string][]revocation, uid string, now time.Time) routesFile {
	routes := routesFile{Models: map[string]modelFile{}, Keys: []keyFile{}, HTTPSOnly: len(states) > 0}
	groups := make([]string, 0, len(states))
	for group := range states {
		groups = append(groups, group)
	}
	sort.Strings(groups)
	for _, group := range groups {
		state := states[group]
		httpsOnly := state.Settings.TLS == "https"
		routes.HTTPSOnly = routes.HTTPSOnly && httpsOnly
		for name, m := range state.Models {
			if route, ok := deriveModel(m, uid); ok {
				route.HTTPSOnly = httpsOnly
				routes.Models[name] = route
			}
		}
		modelNames := sortedModelNames(state.Models)
		for _, key := range activeKeys(state, revocations[group], now) {
			routes.Keys = append(routes.Keys, routeKey(key, modelNames))
		}
	}
	sort.SliceStable(routes.Keys, func(i, j int) bool { return routes.Keys[i].ID < routes.Keys[j].ID })
	return routes
}

// deriveModel is a model's live versions with replicas on uid, and the aliases that name one of them.
func deriveModel(m stateModel, uid string) (modelFile, bool) {
	versions := map[string]versionFile{}
	for _, v := range m.Versions {
		replicas := v.Placements[uid]
		if v.State != "live" || len(replicas) == 0 {
			continue
		}
		addresses := make([]string, len(replicas))
		for i, r := range replicas {
			addresses[i] = "127.0.0.1:" + strconv.Itoa(r.Port)
		}
		versions[strconv.Itoa(v.Number)] = versionFile{Replicas: addresses}
	}
	if len(versions) == 0 {
		return modelFile{}, false
	}
	aliases := map[string]string{}
	for alias, number := range m.Aliases {
		if _, ok := versions[strconv.FormatInt(number, 10)]; ok {
			aliases[alias] = strconv.FormatInt(number, 10)
		}
	}
	return modelFile{Public: m.Public, Versions: versions, Aliases: aliases}, true
}

func sortedModelNames(models map[string]stateModel) []string {
	names := make([]string, 0, len(models))
	for name := range models {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// activeKeys: not revoked in the state, not revoked by a revocation, not expired (an unreadable expiry, which
// Date.parse makes NaN, never expires).
func activeKeys(state groupState, revocations []revocation, now time.Time) []stateKey {
	revoked := map[string]bool{}
	for _, r := range revocations {
		if r.Kind == "key" {
			revoked[r.ID] = true
		}
	}
	var keys []stateKey
	for _, k := range state.Keys {
		if (k.RevokedAt != nil && *k.RevokedAt != "") || revoked[k.ID] || expired(k.ExpiresAt, now) {
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

func expired(expiresAt *string, now time.Time) bool {
	if expiresAt == nil || *expiresAt == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, *expiresAt)
	return err == nil && at.UnixMilli() <= now.UnixMilli()
}

// routeKey: "all models" means all of the key's own group's models, never another group's on the same server.
func routeKey(key stateKey, groupModels []string) keyFile {
	route := keyFile{ID: key.ID, SHA256: key.SHA256, ExpiresAt: key.ExpiresAt}
	switch key.Scope.Kind {
	case "all":
		route.Models = append([]string{}, groupModels...)
	default:
		route.Models = []string{key.Scope.Model}
	}
	if key.Scope.Kind == "versions" {
		route.Versions = map[string][]string{key.Scope.Model: append([]string{}, key.Scope.Versions...)}
	}
	return route
}

// sameRoutes compares two tables ignoring their revisions, as the gateway would read them.
func sameRoutes(a, b routesFile) bool {
	a.Revision, b.Revision = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var na, nb any
	json.Unmarshal(ja, &na)
	json.Unmarshal(jb, &nb)
	return reflect.DeepEqual(na, nb)
}

// routesWriter replaces <gatewayDir>/routes.json the way Berth's applyRoutes does: under the server-wide
// groups/.derive.lock flock, by a 644 temporary file renamed into place.
type routesWriter struct {
	berthDir   string
	gatewayDir string
	last       int64 // revision of the last table written or found
}

func (w *routesWriter) path() string { return filepath.Join(w.gatewayDir, "routes.json") }

// current reads routes.json; ok is false when there is none or it cannot be read.
func (w *routesWriter) current() (routesFile, bool) {
	data, err := os.ReadFile(w.path())
	if err != nil {
		return routesFile{}, false
	}
	var routes routesFile
	if json.Unmarshal(data, &routes) != nil {
		return routesFile{}, false
	}
	if routes.Revision > w.last {
		w.last = routes.Revision
	}
	return routes, true
}

// write stamps the table max(previous+1, now ms) and installs it.
func (w *routesWriter) write(routes routesFile, now time.Time) error {
	if err := os.MkdirAll(filepath.Join(w.berthDir, "groups"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(w.gatewayDir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(w.berthDir, "groups", ".derive.lock"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	w.current() // Berth may have written since: the stamp must still grow
	routes.Revision = w.last + 1
	if ms := now.UnixMilli(); ms > routes.Revision {
		routes.Revision = ms
	}
	data, err := json.Marshal(routes)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(w.path(), append(data, '\n'), 0o644); err != nil {
		return err
	}
	w.last = routes.Revision
	return nil
}

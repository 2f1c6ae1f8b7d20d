package main

// Who a berth-shell member is, from the group states on this server: each verified state that lists the member
// (and whose revoked.jsonl does not revoke them) gives a role in that group, and optionally the models a deployer
// is limited to. A model belongs to the groups whose states hold it.

import (
	"fmt"
	"sort"
	"strings"
)

// shellMembership is the member's place in one group.
type shellMembership struct {
	Role   string   `json:"role"`
	Models []string `json:"models"` // null: every model of the group
}

type shellIdentity struct {
	ID       string
	Name     string
	Groups   map[string]shellMembership
	owners   map[string][]string // model → the groups whose verified states hold it
	damaged  []string            // groups whose state here does not verify
	verified map[string]bool     // groups whose state here verifies
}

// loadIdentity reads every group state of the store; a member in none of them has no groups.
func loadIdentity(store stateStore, member string) *shellIdentity {
	id := &shellIdentity{ID: member, Groups: map[string]shellMembership{}, owners: map[string][]string{}, verified: map[string]bool{}}
	copies := store.readGroups()
	for _, group := range sortedGroupNames(copies) {
		c := copies[group]
		if !c.verified() {
			id.damaged = append(id.damaged, group)
			continue
		}
		id.verified[group] = true
		for model := range c.Rev.State.Models {
			id.owners[model] = append(id.owners[model], group)
		}
		if m, ok := findMember(c.Rev.State, member); ok && !revokedMember(store.readRevocations(group), member) {
			id.Groups[group] = shellMembership{Role: m.Role, Models: m.Models}
			if id.Name == "" {
				id.Name = m.Name
			}
		}
	}
	return id
}

func findMember(state groupState, member string) (stateMember, bool) {
	for _, m := range state.Members {
		if m.ID == member && roleRank(m.Role) > 0 {
			return m, true
		}
	}
	return stateMember{}, false
}

func revokedMember(revocations []revocation, member string) bool {
	for _, r := range revocations {
		if r.Kind == "member" && r.ID == member {
			return true
		}
	}
	return false
}

// highest is the member's highest role in any group.
func (id *shellIdentity) highest() int {
	best := 0
	for _, m := range id.Groups {
		if r := roleRank(m.Role); r > best {
			best = r
		}
	}
	return best
}

// roleOn is a membership's role on one model: a deployer limited to other models is a viewer on this one.
func (m shellMembership) roleOn(model string) int {
	role := roleRank(m.Role)
	if m.Models == nil || role != roleDeployer {
		return role
	}
	for _, name := range m.Models {
		if name == model {
			return role
		}
	}
	return roleViewer
}

// groupsFor are the groups whose memberships decide the member's role on a model: its owners, or, for a model
// in no group's state yet (a first deploy starts replicas before the revision that adds it), every group.
func (id *shellIdentity) groupsFor(model string) []string {
	if owners, ok := id.owners[model]; ok {
		return owners
	}
	groups := make([]string, 0, len(id.Groups))
	for g := range id.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return groups
}

// roleOn is the member's best role on a model. While a group's state here does not verify, a model in no
// verified state might be that group's: only an admin may touch it.
func (id *shellIdentity) roleOn(model string) int {
	_, owned := id.owners[model]
	best := 0
	for _, g := range id.groupsFor(model) {
		m, ok := id.Groups[g]
		if !ok {
			continue
		}
		r := m.roleOn(model)
		if !owned && len(id.damaged) > 0 && r < roleAdmin {
			r = 0
		}
		if r > best {
			best = r
		}
	}
	return best
}

// need refuses unless the member has role on model; what is the action, as in "stop berth-m2-v1-r1".
func (id *shellIdentity) need(role int, model, what string) error {
	if id.roleOn(model) >= role {
		return nil
	}
	return refused("role %s on model %s is needed to %s (you have: %s)", roleName(role), model, what, id.describe(model))
}

// describe says what the member has on a model, for a refusal.
func (id *shellIdentity) describe(model string) string {
	var parts []string
	for _, g := range id.groupsFor(model) {
		m, ok := id.Groups[g]
		if !ok {
			parts = append(parts, fmt.Sprintf("no role in group %s, which holds model %s", g, model))
			continue
		}
		part := fmt.Sprintf("%s in group %s", roleName(m.roleOn(model)), g)
		if m.roleOn(model) != roleRank(m.Role) {
			only := strings.Join(m.Models, ", ")
			if only == "" {
				only = "no model"
			}
			part += fmt.Sprintf(" (%s only on %s)", m.Role, only)
		}
		parts = append(parts, part)
	}
	if _, owned := id.owners[model]; !owned && len(id.damaged) > 0 {
		parts = append(parts, fmt.Sprintf("model %s is in no verified group state, and the state of group %s here does not verify",
			model, strings.Join(id.damaged, ", ")))
	}
	return strings.Join(parts, "; ")
}

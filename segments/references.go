package segments

import (
	"context"
	"fmt"

	"github.com/pregon/pregon/store"
)

// CheckReferences reports conditions naming a campaign or an import that does not exist in
// the workspace (a typo, or an id from another workspace): such a condition would silently
// select nobody. Call it after Validate when saving or previewing; paths as in Validate.
func CheckReferences(ctx context.Context, db store.DBTX, workspaceID int64, def Definition) ([]store.Problem, error) {
	type ref struct {
		path string
		id   int64
	}
	var campaigns, imports []ref
	var walk func(n Node, path string)
	walk = func(n Node, path string) {
		for i, k := range n.All {
			walk(k, fmt.Sprintf("%s.all[%d]", path, i))
		}
		for i, k := range n.Any {
			walk(k, fmt.Sprintf("%s.any[%d]", path, i))
		}
		if n.Not != nil {
			walk(*n.Not, path+".not")
		}
		if c := n.Cond; c != nil {
			switch c.Field {
			case FieldEngagement:
				if c.CampaignID > 0 {
					campaigns = append(campaigns, ref{path + ".campaign_id", c.CampaignID})
				}
			case FieldImportID:
				o := resolve(c, path, &validator{})
				for i, id := range o.ints {
					p := path + ".value"
					if _, ok := c.Value.([]any); ok {
						p = fmt.Sprintf("%s[%d]", p, i)
					}
					imports = append(imports, ref{p, id})
				}
			}
		}
	}
	walk(def.Root, "$")
	var problems []store.Problem
	for _, t := range []struct {
		refs  []ref
		table string
		msg   string
	}{
		{campaigns, "campaigns", "la campaña %d no existe en este espacio de trabajo"},
		{imports, "imports", "la importación %d no existe en este espacio de trabajo"},
	} {
		if len(t.refs) == 0 {
			continue
		}
		ids := make([]int64, len(t.refs))
		for i, r := range t.refs {
			ids[i] = r.id
		}
		// t.table is one of two constants above, never user input.
		rows, err := db.Query(ctx, `SELECT id FROM `+t.table+` WHERE workspace_id = $1 AND id = ANY($2)`, workspaceID, ids)
		if err != nil {
			return nil, fmt.Errorf("checking the %s a segment names: %w", t.table, err)
		}
		found := map[int64]bool{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, r := range t.refs {
			if !found[r.id] {
				problems = append(problems, store.Problem{Path: r.path, Message: fmt.Sprintf(t.msg, r.id)})
			}
		}
	}
	return problems, nil
}

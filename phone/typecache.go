package phone

import (
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// The fast path's verdict (line type and region of a national number) comes from matching the
// number against a country's metadata patterns, a dozen regular expressions per number: most
// of an import's normalisation time. Those patterns constrain the leading digits of a number
// and leave the rest to \d{n}. Each country code's patterns are expanded (once) into linear
// branches, sequences of digit classes; for a number, the shortest prefix P such that every
// branch P does not rule out constrains nothing beyond P decides the verdict together with the
// number's length, so the verdict is memoised by (country code, length, P). A branch whose
// constrained digits do not sit at fixed positions (\d{2,3}[1-5]) cannot be ruled out by
// position: a prefix that leaves one standing is never memoised, nor is a country code whose
// patterns expand to too many branches.

// digitSet is a set of digits (bit d: digit d).
type digitSet uint16

const allDigits digitSet = 1<<10 - 1

// constraint is a digit class at a fixed position of a branch.
type constraint struct {
	pos int
	set digitSet
}

// branch is one linear alternative of a pattern: its constraints at fixed positions, and
// whether a constraint follows at a position that is not fixed (open).
type branch struct {
	cons  []constraint
	depth int // position after its last constraint
	open  bool
}

// item is one element of a linear sequence: a digit class repeated min..max times.
type item struct {
	set      digitSet
	min, max int // max -1: unbounded
}

const maxBranches = 4096

// expand returns the linear sequences re matches; ok is false when there are too many or re
// uses something other than digits, classes, groups, alternation and repetition.
func expand(re *syntax.Regexp) (out [][]item, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return [][]item{nil}, true
	case syntax.OpLiteral:
		seq := make([]item, len(re.Rune))
		for i, r := range re.Rune {
			var set digitSet
			if r >= '0' && r <= '9' {
				set = 1 << (r - '0')
			}
			seq[i] = item{set: set, min: 1, max: 1}
		}
		return [][]item{seq}, true
	case syntax.OpCharClass:
		var set digitSet
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for d := max(re.Rune[i], '0'); d <= min(re.Rune[i+1], '9'); d++ {
				set |= 1 << (d - '0')
			}
		}
		return [][]item{{{set: set, min: 1, max: 1}}}, true
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			b, ok := expand(sub)
			if !ok || len(out)+len(b) > maxBranches {
				return nil, false
			}
			out = append(out, b...)
		}
		return out, true
	case syntax.OpConcat:
		out = [][]item{nil}
		for _, sub := range re.Sub {
			b, ok := expand(sub)
			if !ok || len(out)*len(b) > maxBranches {
				return nil, false
			}
			next := make([][]item, 0, len(out)*len(b))
			for _, x := range out {
				for _, y := range b {
					next = append(next, append(append([]item(nil), x...), y...))
				}
			}
			out = next
		}
		return out, true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, -1
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
		}
		b, ok := expand(re.Sub[0])
		if !ok {
			return nil, false
		}
		// Any digit repeated, or a class a fixed number of times: one item.
		if len(b) == 1 && len(b[0]) == 1 && b[0][0].min == 1 && b[0][0].max == 1 && (b[0][0].set == allDigits || lo == hi) {
			return [][]item{{{set: b[0][0].set, min: lo, max: hi}}}, true
		}
		if hi < 0 || hi > 8 {
			return nil, false
		}
		// Each count as its own alternative.
		for n := lo; n <= hi; n++ {
			seqs := [][]item{nil}
			for range n {
				if len(seqs)*len(b) > maxBranches {
					return nil, false
				}
				next := make([][]item, 0, len(seqs)*len(b))
				for _, x := range seqs {
					for _, y := range b {
						next = append(next, append(append([]item(nil), x...), y...))
					}
				}
				seqs = next
			}
			if len(out)+len(seqs) > maxBranches {
				return nil, false
			}
			out = append(out, seqs...)
		}
		return out, true
	}
	return nil, false
}

// linear turns a sequence into a branch.
func linear(seq []item) branch {
	var b branch
	lo, hi := 0, 0
	for _, it := range seq {
		if it.set != allDigits && it.max != 0 {
			if lo != hi || it.min != it.max {
				b.open = true // constraints from here on are not at fixed positions
				return b
			}
			for k := range it.min {
				b.cons = append(b.cons, constraint{pos: lo + k, set: it.set})
			}
			b.depth = lo + it.min
		}
		lo += it.min
		if hi >= 0 && it.max >= 0 {
			hi += it.max
		} else {
			hi = -1
		}
	}
	return b
}

// plan is a country code's branches and the memoised decisions on prefixes.
type plan struct {
	branches []branch
	mu       sync.RWMutex
	decided  map[string]bool // prefix → true: it decides; false: a longer one is needed
}

// plans memoises planFor: country code → *plan (nil: not memoisable).
var plans sync.Map

func planFor(cc int) *plan {
	if v, ok := plans.Load(cc); ok {
		return v.(*plan)
	}
	p := computePlan(cc)
	plans.Store(cc, p)
	return p
}

// metadataByCode is the territories' metadata by country code.
var metadataByCode = sync.OnceValue(func() map[int][]*phonenumbers.PhoneMetadata {
	out := map[int][]*phonenumbers.PhoneMetadata{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return out
	}
	for _, md := range coll.GetMetadata() {
		out[int(md.GetCountryCode())] = append(out[int(md.GetCountryCode())], md)
	}
	return out
})

func computePlan(cc int) *plan {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	mds := metadataByCode()[cc]
	if len(regions) == 0 || len(mds) != len(regions) {
		return nil
	}
	var patterns []string
	for _, md := range mds {
		if md.GetId() == "001" {
			return nil
		}
		patterns = append(patterns, md.GetLeadingDigits())
		for _, desc := range []*phonenumbers.PhoneNumberDesc{md.GetGeneralDesc(), md.GetFixedLine(), md.GetMobile(),
			md.GetTollFree(), md.GetPremiumRate(), md.GetSharedCost(), md.GetPersonalNumber(), md.GetVoip(),
			md.GetPager(), md.GetUan(), md.GetVoicemail(), md.GetNoInternationalDialling()} {
			if desc != nil {
				patterns = append(patterns, desc.GetNationalNumberPattern())
			}
		}
	}
	return newPlan(patterns)
}

// newPlan expands patterns into branches; nil when one cannot be expanded.
func newPlan(patterns []string) *plan {
	p := &plan{decided: map[string]bool{}}
	for _, pat := range patterns {
		if pat == "" || pat == "NA" {
			continue
		}
		re, err := syntax.Parse(pat, syntax.Perl)
		if err != nil {
			return nil
		}
		seqs, ok := expand(re)
		if !ok || len(p.branches)+len(seqs) > 4*maxBranches {
			return nil
		}
		for _, seq := range seqs {
			p.branches = append(p.branches, linear(seq))
		}
	}
	return p
}

// decides says whether prefix decides the verdict of every number starting with it: every
// branch the prefix does not rule out has all its constraints inside the prefix.
func (p *plan) decides(prefix string) bool {
	p.mu.RLock()
	d, ok := p.decided[prefix]
	p.mu.RUnlock()
	if ok {
		return d
	}
	d = true
	for i := range p.branches {
		b := &p.branches[i]
		ruledOut := false
		for _, c := range b.cons {
			if c.pos < len(prefix) && c.set&(1<<(prefix[c.pos]-'0')) == 0 {
				ruledOut = true
				break
			}
		}
		if ruledOut {
			continue
		}
		if b.open || b.depth > len(prefix) {
			d = false
			break
		}
	}
	p.mu.Lock()
	if len(p.decided) < maxVerdicts {
		p.decided[strings.Clone(prefix)] = d
	}
	p.mu.Unlock()
	return d
}

// prefixFor returns the shortest prefix of nat that decides its verdict, if any.
func (p *plan) prefixFor(nat string) (string, bool) {
	for k := 1; k <= len(nat) && k <= 10; k++ {
		if p.decides(nat[:k]) {
			return nat[:k], true
		}
	}
	return "", false
}

// verdict is the memoised outcome of fast's pattern matching.
type verdict struct {
	t      phonenumbers.PhoneNumberType
	region string
}

type verdictKey struct {
	cc     int
	n      int    // national number length
	prefix string // its leading digits
}

// maxVerdicts bounds the memo (a few thousand entries cover a country's numbering plan).
const maxVerdicts = 1 << 16

var verdicts = struct {
	sync.RWMutex
	m map[verdictKey]verdict
}{m: map[verdictKey]verdict{}}

func verdictGet(k verdictKey) (verdict, bool) {
	verdicts.RLock()
	v, ok := verdicts.m[k]
	verdicts.RUnlock()
	return v, ok
}

func verdictPut(k verdictKey, v verdict) {
	verdicts.Lock()
	if len(verdicts.m) < maxVerdicts {
		k.prefix = string([]byte(k.prefix)) // not a slice of the caller's string
		verdicts.m[k] = v
	}
	verdicts.Unlock()
}

// lookupVerdict is the line type and region of national number nat (nn as a number) of country
// code cc, memoised when cc's patterns allow it.
func lookupVerdict(cc int, nat string, nn uint64) (verdict, bool) {
	var (
		k        = verdictKey{cc: cc, n: len(nat)}
		memoable bool
	)
	if p := planFor(cc); p != nil {
		if k.prefix, memoable = p.prefixFor(nat); memoable {
			if v, ok := verdictGet(k); ok {
				return v, true
			}
		}
	}
	num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(nn)}
	v := verdict{t: phonenumbers.GetNumberType(num), region: phonenumbers.GetRegionCodeForNumber(num)}
	if memoable {
		verdictPut(k, v)
	}
	return v, false
}

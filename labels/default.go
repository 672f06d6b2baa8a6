package labels

import (
	"fmt"
	"slices"
)

// Default returns the starter rules. They are deliberately small and each
// entry is a well-known code; a hospital reviews them with its privacy
// office and extends them (Load) with its own value sets, for instance the
// SAMHSA/VA C2S or VSAC sensitivity value sets.
//
// ICD-10 and ICD-10-CM (ranges are prefixes):
//   - ETH: F10–F16, F18, F19 (mental and behavioural disorders due to
//     psychoactive substance use). F17 (nicotine) is left out: 42 CFR
//     2.11 excludes tobacco and caffeine from "substance use disorder".
//     Also substance abuse counselling: Z71.41, Z71.51 (CM); Z71.4, Z71.5
//     (ICD-10).
//   - BH: F20–F99 (schizophrenia through unspecified mental disorder);
//     R45.851 suicidal ideations (CM). F01–F09 (organic disorders such as
//     dementia) are left to the hospital.
//   - HIV: B20–B24 (HIV disease), Z21 (asymptomatic HIV infection status),
//     R75 (inconclusive laboratory evidence of HIV), O98.7 (HIV disease
//     complicating pregnancy), Z20.6 (exposure to HIV), Z71.7 (HIV
//     counselling).
//   - STD: A50–A64 (infections with a predominantly sexual mode of
//     transmission), Z20.2 (exposure to such infections).
//   - SEX: O00–O08 (pregnancy with abortive outcome), Z30 (contraceptive
//     management), Z31 (procreative management), N46 and N97 (male and
//     female infertility), Z33.2 (elective termination of pregnancy, CM).
//   - GDIS: Q90–Q99 (chromosomal abnormalities); Z14 (genetic carrier) and
//     Z15 (genetic susceptibility to disease), Z31.43 and Z31.44 (genetic
//     testing for procreative management), Z84.81 (family history of
//     carrier of genetic disease), all CM.
//
// SNOMED CT (exact concepts; descendants are not expanded):
//   - ETH: 66590003 alcohol dependence, 7200002 alcoholism, 191816009 drug
//     dependence, 5602001 opioid abuse, 75544000 opioid dependence.
//   - BH: 35489007 depressive disorder, 58214004 schizophrenia, 13746004
//     bipolar disorder, 197480006 anxiety disorder, 47505003
//     posttraumatic stress disorder.
//   - HIV: 86406008 HIV infection, 62479008 AIDS, 165816005 HIV positive.
//   - STD: 76272004 syphilis, 15628003 gonorrhoea, 105629000 chlamydial
//     infection, 33839006 genital herpes simplex.
//   - SEX: 386639001 termination of pregnancy, 17369002 miscarriage,
//     8619003 infertile.
//   - GDIS: 41040004 complete trisomy 21 syndrome, 190905008 cystic
//     fibrosis.
//
// LOINC (tests whose mere presence discloses the category):
//   - HIV: 75622-1 HIV 1 and 2 tests panel, 7917-8 HIV 1 Ab, 5221-7 HIV 1
//     Ab by immunoblot, 56888-1 HIV 1+2 Ab + HIV 1 p24 Ag, 25836-8 and
//     20447-9 HIV 1 RNA viral load.
//   - STD: 20507-0 reagin Ab by RPR (syphilis), 21613-5 Chlamydia
//     trachomatis DNA, 24111-7 Neisseria gonorrhoeae DNA.
//   - ETH: 3393-6 benzoylecgonine (cocaine metabolite), 3427-2
//     cannabinoids and 3349-8 amphetamines in urine (drugs-of-abuse
//     screens). Hospitals whose emergency departments screen routinely may
//     prefer to drop these.
//   - GDIS: 21636-6 BRCA1 gene mutations found.
//
// RxNorm (ingredients of SUD pharmacotherapy): ETH for 1819 buprenorphine,
// 6813 methadone, 7243 naltrexone, 3554 disulfiram, 82819 acamprosate.
// Methadone is also an analgesic: this errs towards labelling.
func Default() Config {
	var rules []Rule
	add := func(label, system string, codes, prefixes []string) {
		if len(codes) > 0 || len(prefixes) > 0 {
			rules = append(rules, Rule{Label: label, System: system, Codes: codes, Prefixes: prefixes})
		}
	}
	// ICD-10 ranges shared by ICD-10 and ICD-10-CM.
	std := rangeOf("A", 50, 64)
	for _, sys := range []string{SystemICD10, SystemICD10CM} {
		cm := sys == SystemICD10CM
		sud := []string{"Z71.4", "Z71.5"}
		if cm {
			sud = []string{"Z71.41", "Z71.51"}
		}
		add(SUD, sys, sud, []string{"F10", "F11", "F12", "F13", "F14", "F15", "F16", "F18", "F19"})
		add(MH, sys, pick(cm, "R45.851"), []string{"F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9"})
		add(HIV, sys, nil, []string{"B20", "B21", "B22", "B23", "B24", "Z21", "R75", "O98.7", "Z20.6", "Z71.7"})
		add(STD, sys, nil, slices.Concat(std, []string{"Z20.2"}))
		add(REPRO, sys, pick(cm, "Z33.2"), append(rangeOf("O", 0, 8), "Z30", "Z31", "N46", "N97"))
		add(GENETIC, sys, nil, append([]string{"Q9"}, pick(cm, "Z14", "Z15", "Z31.43", "Z31.44", "Z84.81")...))
	}
	add(SUD, SystemSNOMED, []string{"66590003", "7200002", "191816009", "5602001", "75544000"}, nil)
	add(MH, SystemSNOMED, []string{"35489007", "58214004", "13746004", "197480006", "47505003"}, nil)
	add(HIV, SystemSNOMED, []string{"86406008", "62479008", "165816005"}, nil)
	add(STD, SystemSNOMED, []string{"76272004", "15628003", "105629000", "33839006"}, nil)
	add(REPRO, SystemSNOMED, []string{"386639001", "17369002", "8619003"}, nil)
	add(GENETIC, SystemSNOMED, []string{"41040004", "190905008"}, nil)

	add(HIV, SystemLOINC, []string{"75622-1", "7917-8", "5221-7", "56888-1", "25836-8", "20447-9"}, nil)
	add(STD, SystemLOINC, []string{"20507-0", "21613-5", "24111-7"}, nil)
	add(SUD, SystemLOINC, []string{"3393-6", "3427-2", "3349-8"}, nil)
	add(GENETIC, SystemLOINC, []string{"21636-6"}, nil)

	add(SUD, SystemRxNorm, []string{"1819", "6813", "7243", "3554", "82819"}, nil)
	return Config{Rules: rules}
}

// rangeOf returns the ICD-10 categories letter+from .. letter+to, two digits.
func rangeOf(letter string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%02d", letter, i))
	}
	return out
}

// pick returns codes when cond holds (codes that exist only in ICD-10-CM).
func pick(cond bool, codes ...string) []string {
	if cond {
		return codes
	}
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/xuri/excelize/v2"
)

func init() {
	extraCommands["demo"] = runDemo
}

// runDemo writes the demo workbook: the kind of file a marketer in Bogotá, Guadalajara or
// Rosario exports from whatever they use — title rows above Spanish headers, phones typed every
// which way (and some stored as numbers), consent columns, a few bad rows.
func runDemo(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	out := fs.String("o", "clientes-demo.xlsx", "where to write the sample workbook")
	rows := fs.Int("rows", 60, "number of contact rows")
	seed := fs.Uint64("seed", 2026, "random seed (same seed, same file)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := WriteSampleWorkbook(*out, *rows, *seed); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d contact rows, headers in row 3)\n", *out, *rows)
	return nil
}

var (
	sampleFirst = []string{"Ana", "Luis", "María José", "Carlos", "Valentina", "Juan Pablo", "Camila", "Andrés", "Sofía", "Mateo", "Lucía", "Diego", "Isabella", "Santiago", "Daniela", "Martín"}
	sampleLast  = []string{"García", "Rodríguez", "Martínez", "López", "Hernández", "Pérez", "Gómez", "Díaz", "Torres", "Ramírez", "Fernández", "Sánchez"}
	sampleCity  = map[string][]string{"CO": {"Bogotá", "Medellín", "Cali"}, "MX": {"Guadalajara", "CDMX", "Monterrey"}, "AR": {"Rosario", "Buenos Aires", "Córdoba"}}
)

// WriteSampleWorkbook writes a deterministic, realistically messy contact workbook.
func WriteSampleWorkbook(path string, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Clientes"
	f.SetSheetName("Sheet1", sheet)
	f.SetCellValue(sheet, "A1", "Café Aurora — base de clientes")
	f.SetCellValue(sheet, "A2", "Exportado del POS el 2026-11-20")
	headers := []string{"Nombre", "Apellido", "Celular", "Correo", "Ciudad", "Etiquetas", "¿Acepta WhatsApp?", "Fecha de consentimiento", "Origen", "Compras", "Cliente desde"}
	for i, h := range headers {
		cell, _ := excelize.CoordinatesToCellName(i+1, 3)
		f.SetCellValue(sheet, cell, h)
	}
	dateStyle, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	countries := []string{"CO", "CO", "CO", "MX", "MX", "AR"}
	base := time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		row := i + 4
		set := func(col int, v any) {
			cell, _ := excelize.CoordinatesToCellName(col, row)
			f.SetCellValue(sheet, cell, v)
		}
		country := countries[r.IntN(len(countries))]
		first, last := sampleFirst[r.IntN(len(sampleFirst))], sampleLast[r.IntN(len(sampleLast))]
		set(1, first)
		set(2, last)
		set(3, samplePhone(r, country, i))
		if r.IntN(3) > 0 {
			set(4, fmt.Sprintf("%s.%s%d@example.com", asciiLower(first), asciiLower(last), i))
		}
		set(5, sampleCity[country][r.IntN(3)])
		tags := []string{"cafe", "frecuente", "desayunos", "vip", "promo-navidad"}
		set(6, tags[r.IntN(len(tags))]+", "+tags[r.IntN(len(tags))])
		consent := []string{"Sí", "si", "SI", "x", "Sí", "No", ""}[r.IntN(7)]
		set(7, consent)
		if consent != "No" && consent != "" {
			when := base.AddDate(0, 0, r.IntN(300))
			if i%4 == 0 {
				set(8, when.Format("02/01/2006")) // typed as text, dd/mm/yyyy
			} else {
				cell, _ := excelize.CoordinatesToCellName(8, row)
				f.SetCellValue(sheet, cell, when) // a real Excel date
				f.SetCellStyle(sheet, cell, cell, dateStyle)
			}
			set(9, []string{"formulario web", "tienda", "código QR en mesa", "Instagram"}[r.IntN(4)])
		}
		set(10, r.IntN(40))
		cell, _ := excelize.CoordinatesToCellName(11, row)
		f.SetCellValue(sheet, cell, base.AddDate(0, -r.IntN(30), 0))
		f.SetCellStyle(sheet, cell, cell, dateStyle)
	}
	return f.SaveAs(path)
}

// samplePhone returns a phone written the way people write them; every 13th row is invalid.
func samplePhone(r *rand.Rand, country string, i int) any {
	if i%13 == 7 {
		return []string{"123", "sin número", "300 12", "+57 1 234 5678"}[r.IntN(4)]
	}
	switch country {
	case "CO":
		num := fmt.Sprintf("3%02d%07d", r.IntN(25)+1, r.IntN(10_000_000))
		switch r.IntN(4) {
		case 0:
			return num[:3] + " " + num[3:6] + " " + num[6:]
		case 1:
			return "+57 (" + num[:3] + ") " + num[3:6] + "-" + num[6:]
		case 2:
			var v int64
			fmt.Sscan("57"+num, &v)
			return v // a numeric cell
		default:
			return num
		}
	case "MX":
		num := fmt.Sprintf("33%08d", r.IntN(100_000_000))
		if r.IntN(2) == 0 {
			return "521" + num // the old WhatsApp form with the mobile 1
		}
		return "+52 " + num[:2] + " " + num[2:6] + " " + num[6:]
	default: // AR
		num := fmt.Sprintf("%08d", r.IntN(100_000_000))
		if r.IntN(2) == 0 {
			return "(0341) 15-" + num[:3] + "-" + num[3:7]
		}
		return "+54 9 341 " + num[:3] + "-" + num[3:7]
	}
}

func asciiLower(s string) string {
	out := make([]rune, 0, len(s))
	for _, c := range s {
		switch c {
		case 'á', 'Á':
			c = 'a'
		case 'é', 'É':
			c = 'e'
		case 'í', 'Í':
			c = 'i'
		case 'ó', 'Ó':
			c = 'o'
		case 'ú', 'Ú':
			c = 'u'
		case ' ':
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

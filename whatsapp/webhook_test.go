package whatsapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, path string) *Envelope {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseWebhook(b)
	if err != nil {
		t.Fatalf("ParseWebhook(%s): %v", path, err)
	}
	for _, e := range env.Entry {
		for _, c := range e.Changes {
			if c.Err != nil {
				t.Errorf("%s: change %s: %v", path, c.Field, c.Err)
			}
			if len(c.Raw) == 0 {
				t.Errorf("%s: change %s has no Raw value", path, c.Field)
			}
		}
	}
	return env
}

// firstMessage returns the only inbound message of a one-message example.
func firstMessage(t *testing.T, env *Envelope) Message {
	t.Helper()
	msgs := env.InboundMessages()
	if len(msgs) != 1 {
		t.Fatalf("want 1 inbound message, got %d", len(msgs))
	}
	return msgs[0]
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestParseOpenAPIExamples parses every webhook example of Meta's OpenAPI document (copied
// into testdata/openapi) and checks the values that matter.
func TestParseOpenAPIExamples(t *testing.T) {
	checks := map[string]func(t *testing.T, env *Envelope){
		"text_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "type", m.Type, "text")
			eq(t, "body", m.Text.Body, "Does it come in another color?")
			eq(t, "from", m.From, "16505551234")
			eq(t, "time", m.Timestamp.Time(), time.Unix(1749416383, 0).UTC())
			v := env.Entry[0].Changes[0].Messages
			eq(t, "contact", string(v.Contacts[0].WAID), "16505551234")
			eq(t, "profile", v.Contacts[0].Profile.Name, "Sheena Nelson")
			eq(t, "phone_number_id", string(v.Metadata.PhoneNumberID), "106540352242922")
			eq(t, "entry id", string(env.Entry[0].ID), "419561257915477")
		},
		"text_message_with_context_product_inquiry": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "context id", m.Context.ID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA")
			eq(t, "product", m.Context.ReferredProduct.ProductRetailerID, "di9ozbzfi4")
			eq(t, "body", m.ReplyText(), "Is this still available?")
		},
		"text_message_from_click_to_whatsapp_ad": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "source type", m.Referral.SourceType, "ad")
			eq(t, "source id", m.Referral.SourceID, "120226305854810726")
			eq(t, "body", m.Text.Body, "Hello! Can I get more info on this?")
		},
		"reaction_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "type", m.Type, "reaction")
			eq(t, "emoji", m.Reaction.Emoji, "👍")
			eq(t, "message id", m.Reaction.MessageID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA")
		},
		"image_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "id", m.Image.ID, "1003383421387256")
			eq(t, "mime", m.Image.MimeType, "image/jpeg")
			eq(t, "caption", m.ReplyText(), "Taj Mahal")
		},
		"location_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "name", m.Location.Name, "Philz Coffee")
			eq(t, "lat", m.Location.Latitude, 37.44221496582)
			eq(t, "lng", m.Location.Longitude, -122.16165924072)
		},
		"contact_sharing_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "name", m.Contacts[0].Name.FormattedName, "Lucía Gómez")
			eq(t, "wa_id", m.Contacts[0].Phones[0].WAID, "19835552319")
			eq(t, "org", m.Contacts[0].Org.Company, "Google")
		},
		"unsupported_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "type", m.Type, "unsupported")
			eq(t, "code", m.Errors[0].Code, 131051)
			eq(t, "details", m.Errors[0].ErrorData.Details, "Message type is currently not supported.")
		},
		"button_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "payload", m.Button.Payload, "Unsubscribe")
			eq(t, "context", m.Context.ID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA")
			eq(t, "context from", m.Context.From, "15550783881")
		},
		"interactive_list_reply_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "type", m.Interactive.Type, "list_reply")
			eq(t, "id", m.Interactive.ListReply.ID, "priority_express")
			eq(t, "description", m.Interactive.ListReply.Description, "Next Day to 2 Days")
		},
		"interactive_button_reply_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "id", m.Interactive.ButtonReply.ID, "cancel-button")
			eq(t, "reply text", m.ReplyText(), "Cancel")
		},
		"order_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "catalog", m.Order.CatalogID, "194836987003835")
			eq(t, "items", len(m.Order.ProductItems), 2)
			eq(t, "qty", int(m.Order.ProductItems[0].Quantity), 2)
		},
		"system_message": func(t *testing.T, env *Envelope) {
			m := firstMessage(t, env)
			eq(t, "system type", m.System.Type, "user_changed_number")
			eq(t, "new wa_id", m.System.WAID, "12195555358")
			eq(t, "no contacts", len(env.Entry[0].Changes[0].Messages.Contacts), 0)
		},
	}
	groups := []string{"group_create_message", "group_settings_update", "group_remove_participants"}
	files, _ := filepath.Glob(filepath.Join("testdata", "openapi", "*.json"))
	if len(files) != len(checks)+len(groups) {
		t.Errorf("testdata/openapi has %d files, checks cover %d", len(files), len(checks)+len(groups))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			env := parseFile(t, f)
			eq(t, "object", env.Object, ObjectWhatsAppBusinessAccount)
			if check, ok := checks[name]; ok {
				eq(t, "field", env.Entry[0].Changes[0].Field, FieldMessages)
				check(t, env)
				return
			}
			// Group fields are not typed: Raw is kept and nothing typed is set.
			c := env.Entry[0].Changes[0]
			if c.Messages != nil || !strings.HasPrefix(c.Field, "group_") || !strings.Contains(string(c.Raw), "Y2FwaV9ncm91cDox") {
				t.Errorf("group change: field %q, typed %v, raw %s", c.Field, c.Messages, c.Raw)
			}
		})
	}
}

// TestParseFieldPayloads parses one payload per subscribed field (testdata/webhooks, written
// from WHATSAPP.md) and checks the typed values.
func TestParseFieldPayloads(t *testing.T) {
	dir := filepath.Join("testdata", "webhooks")
	load := func(t *testing.T, name string) *Envelope { return parseFile(t, filepath.Join(dir, name)) }

	t.Run("StatusesAcrossEntries", func(t *testing.T) {
		env := load(t, "status_sent.json")
		st := env.Statuses()
		eq(t, "statuses", len(st), 4)
		s := st[0]
		eq(t, "status", s.Status, StatusSent)
		eq(t, "timestamp", s.Timestamp.Time(), time.Unix(1750030073, 0).UTC())
		eq(t, "recipient", s.RecipientID, "5215512345678")
		eq(t, "bsuid", s.RecipientUserID, "MX.1349120865530274")
		eq(t, "biz", s.BizOpaqueCallbackData, "campaign=42;recipient=9001")
		eq(t, "pricing", s.Pricing.PricingModel, "PMP")
		eq(t, "billable", *s.Pricing.Billable, true)
		eq(t, "category", s.Pricing.Category, "marketing")
		eq(t, "conversation", s.Conversation.Origin.Type, "marketing")
		eq(t, "expiration", int64(s.Conversation.ExpirationTimestamp), 1750116480)
		eq(t, "numeric timestamp", int64(st[1].Timestamp), 1750030080)
		eq(t, "played kept", st[2].Status, "played")
		eq(t, "second entry", st[3].ID, "wamid.OTHERWABA")
		eq(t, "entry time", env.Entry[1].EntryTime(), time.Unix(1750030100, 0).UTC())
		eq(t, "contact user id", env.Entry[0].Changes[0].Messages.Contacts[0].UserID, "MX.1349120865530274")
	})
	t.Run("FailedStatus", func(t *testing.T) {
		s := load(t, "status_failed.json").Statuses()[0]
		eq(t, "status", s.Status, StatusFailed)
		eq(t, "code", s.Errors[0].Code, 131049)
		e := s.Errors[0].AsError()
		eq(t, "class", Classify(e), ClassRecipient)
		if RetryAfter(e) < 24*time.Hour {
			t.Errorf("RetryAfter(131049) = %v", RetryAfter(e))
		}
		eq(t, "details", e.Details, "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.")
	})
	t.Run("InboundMessageTypes", func(t *testing.T) {
		msgs := load(t, "inbound_messages.json").InboundMessages()
		eq(t, "count", len(msgs), 15)
		byID := map[string]Message{}
		for _, m := range msgs {
			byID[m.ID] = m
		}
		eq(t, "text", byID["wamid.TEXT"].ReplyText(), "BAJA")
		eq(t, "from_user_id", byID["wamid.TEXT"].FromUserID, "US.1349")
		b := byID["wamid.BUTTON"]
		eq(t, "button payload", b.Button.Payload, "OPTOUT:campaign42")
		eq(t, "button text", b.ReplyText(), "No recibir más")
		eq(t, "button context", b.Context.ID, "wamid.TEMPLATE_MSG")
		eq(t, "button_reply", byID["wamid.IBR"].Interactive.ButtonReply.ID, "btn_si")
		eq(t, "list_reply", byID["wamid.ILR"].Interactive.ListReply.Title, "Centro")
		eq(t, "reaction", byID["wamid.REACT"].Reaction.MessageID, "wamid.TEMPLATE_MSG")
		eq(t, "image", byID["wamid.IMG"].Image.Caption, "mi ticket")
		eq(t, "audio voice", byID["wamid.AUD"].Audio.Voice, true)
		eq(t, "video", byID["wamid.VID"].Video.MimeType, "video/mp4")
		eq(t, "document", byID["wamid.DOC"].Document.Filename, "factura.pdf")
		eq(t, "sticker", byID["wamid.STK"].Sticker.ID, "2004")
		eq(t, "location", byID["wamid.LOC"].Location.Name, "Zócalo")
		eq(t, "contacts", byID["wamid.CON"].Contacts[0].Phones[0].WAID, "5215512345678")
		eq(t, "system", byID["wamid.SYS"].System.NewWAID, "16515551234")
		eq(t, "unsupported", byID["wamid.UNS"].Errors[0].Code, 131051)
		eq(t, "unknown type kept", byID["wamid.FUTURE"].Type, "brand_new_type")
	})
	t.Run("TemplateStatus", func(t *testing.T) {
		ch := load(t, "template_status.json").Entry[0].Changes
		v := ch[0].TemplateStatus
		eq(t, "event", v.Event, "PAUSED")
		eq(t, "id (number)", string(v.MessageTemplateID), "1689556908129832")
		eq(t, "name", v.MessageTemplateName, "promo_julio")
		eq(t, "lang", v.MessageTemplateLanguage, "es_MX")
		eq(t, "reason", string(v.Reason), "NONE")
		eq(t, "title", v.OtherInfo.Title, "FIRST_PAUSE")
		eq(t, "category", v.MessageTemplateCategory, "MARKETING")
		d := ch[1].TemplateStatus
		eq(t, "disabled", d.Event, "DISABLED")
		eq(t, "id (string)", string(d.MessageTemplateID), "77")
		eq(t, "null reason", string(d.Reason), "")
		eq(t, "disable date", int64(d.DisableInfo.DisableDate), 1751234563)
		eq(t, "rejection", ch[2].TemplateStatus.RejectionInfo.Recommendation, "Fix them")
	})
	t.Run("TemplateQuality", func(t *testing.T) {
		v := load(t, "template_quality.json").Entry[0].Changes[0].TemplateQuality
		eq(t, "prev", v.PreviousQualityScore, "GREEN")
		eq(t, "new", v.NewQualityScore, "YELLOW")
		eq(t, "id", string(v.MessageTemplateID), "806312974732579")
		eq(t, "name", v.MessageTemplateName, "welcome_template")
		eq(t, "lang", v.MessageTemplateLanguage, "en-US")
	})
	t.Run("TemplateCategory", func(t *testing.T) {
		v := load(t, "template_category.json").Entry[0].Changes[0].TemplateCategory
		eq(t, "prev", v.PreviousCategory, "UTILITY")
		eq(t, "new", v.NewCategory, "MARKETING")
		eq(t, "name", v.MessageTemplateName, "recordatorio_cita")
	})
	t.Run("PhoneNumberQuality", func(t *testing.T) {
		ch := load(t, "phone_number_quality.json").Entry[0].Changes
		v := ch[0].PhoneNumberQuality
		eq(t, "event", v.Event, "THROUGHPUT_UPGRADE")
		eq(t, "current", v.CurrentLimit, "TIER_UNLIMITED")
		eq(t, "old", v.OldLimit, "TIER_10K")
		eq(t, "max daily", string(v.MaxDailyConversationsPerBusiness), "TIER_2K")
		eq(t, "numeric display", string(ch[1].PhoneNumberQuality.DisplayPhoneNumber), "15550783881")
		eq(t, "legacy event", ch[1].PhoneNumberQuality.Event, "FLAGGED")
		n, ok := TierLimit(string(ch[2].PhoneNumberQuality.MaxDailyConversationsPerBusiness))
		eq(t, "int max daily", n, 2000)
		eq(t, "int max daily ok", ok, true)
	})
	t.Run("BusinessCapability", func(t *testing.T) {
		ch := load(t, "business_capability.json").Entry[0].Changes
		eq(t, "int", string(ch[0].BusinessCapability.MaxDailyConversationsPerBusiness), "2000")
		eq(t, "per waba", int(ch[0].BusinessCapability.MaxPhoneNumbersPerWABA), 25)
		eq(t, "string", string(ch[1].BusinessCapability.MaxDailyConversationsPerBusiness), "TIER_UNLIMITED")
		eq(t, "per phone", int(ch[1].BusinessCapability.MaxDailyConversationPerPhone), -1)
		eq(t, "per business", int(ch[1].BusinessCapability.MaxPhoneNumbersPerBusiness), 2)
	})
	t.Run("AccountUpdate", func(t *testing.T) {
		ch := load(t, "account_update.json").Entry[0].Changes
		v := ch[0].AccountUpdate
		eq(t, "event", v.Event, "PARTNER_REMOVED")
		eq(t, "reason", v.DisconnectionInfo.Reason, "PRIMARY_INACTIVITY")
		eq(t, "initiated", v.DisconnectionInfo.InitiatedBy, "SYSTEM")
		eq(t, "phone", string(v.PhoneNumber), "5215550783881")
		eq(t, "ban array", ch[1].AccountUpdate.BanInfo.WABABanState[0], "SCHEDULE_FOR_DISABLE")
		eq(t, "ban string", ch[2].AccountUpdate.BanInfo.WABABanState[0], "DISABLE")
		eq(t, "violation", ch[2].AccountUpdate.ViolationInfo.ViolationType, "SCAM")
	})
	t.Run("UserPreferences", func(t *testing.T) {
		v := load(t, "user_preferences.json").Entry[0].Changes[0].UserPreferences
		eq(t, "count", len(v.UserPreferences), 2)
		eq(t, "stop", v.UserPreferences[0].Stopped(), true)
		eq(t, "wa_id", string(v.UserPreferences[0].WAID), "16505551234")
		eq(t, "category", v.UserPreferences[0].Category, "marketing_messages")
		eq(t, "ts int", int64(v.UserPreferences[0].Timestamp), 1731705721)
		eq(t, "resume", v.UserPreferences[1].Stopped(), false)
		eq(t, "ts string", int64(v.UserPreferences[1].Timestamp), 1731705800)
	})
	t.Run("MessageEchoes", func(t *testing.T) {
		v := load(t, "smb_message_echoes.json").Entry[0].Changes[0].MessageEchoes
		m := v.MessageEchoes[0]
		eq(t, "to", m.To, "16505551234")
		eq(t, "from", m.From, "15550783881")
		eq(t, "text", m.Text.Body, "Hola, ya tenemos tu pedido")
		eq(t, "ts", int64(m.Timestamp), 1700255121)
	})
	t.Run("StateSync", func(t *testing.T) {
		v := load(t, "smb_app_state_sync.json").Entry[0].Changes[0].StateSync
		eq(t, "count", len(v.StateSync), 2)
		a := v.StateSync[0]
		eq(t, "name", a.Contact.FullName, "Pablo Morales")
		eq(t, "first", a.Contact.FirstName, "Pablo")
		eq(t, "phone", string(a.Contact.PhoneNumber), "5215512345678")
		eq(t, "action", a.Action, "add")
		eq(t, "ts", int64(a.Metadata.Timestamp), 1738346006)
		eq(t, "remove", v.StateSync[1].Action, "remove")
		eq(t, "numeric phone", string(v.StateSync[1].Contact.PhoneNumber), "5215587654321")
	})
	t.Run("History", func(t *testing.T) {
		ch := load(t, "history.json").Entry[0].Changes
		h := ch[0].History.History[0]
		eq(t, "phase", int(h.Metadata.Phase), 0)
		eq(t, "chunk", int(h.Metadata.ChunkOrder), 1)
		eq(t, "progress", int(h.Metadata.Progress), 55)
		eq(t, "thread", h.Threads[0].ID, "16505551234")
		eq(t, "status", h.Threads[0].Messages[0].HistoryContext.Status, "READ")
		eq(t, "declined", ch[1].History.History[0].Errors[0].Code, 2593109)
	})
}

func TestParseWebhookRejectsNonObjects(t *testing.T) {
	for _, body := range []string{"", "  ", "[]", "null", "\"x\"", "{", "{\"entry\": 5}"} {
		if _, err := ParseWebhook([]byte(body)); err == nil {
			t.Errorf("ParseWebhook(%q) succeeded", body)
		}
	}
	big := make([]byte, maxWebhookBody+10)
	big[0] = '{'
	if _, err := ParseWebhook(big); err == nil {
		t.Error("oversized body accepted")
	}
}

func TestParseWebhookToleratesMismatchedValue(t *testing.T) {
	env, err := ParseWebhook([]byte(`{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[
		{"field":"messages","value":{"statuses":"not-an-array","metadata":{"phone_number_id":42}}},
		{"field":"unknown_field","value":{"a":1}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := env.Entry[0].Changes
	if c[0].Err == nil || c[0].Messages == nil {
		t.Errorf("mismatched value: err %v, value %v", c[0].Err, c[0].Messages)
	}
	eq(t, "entry id", string(env.Entry[0].ID), "1")
	eq(t, "unknown field raw", string(c[1].Raw), `{"a":1}`)
}

func TestChangeRoundTrip(t *testing.T) {
	in := Envelope{Object: ObjectWhatsAppBusinessAccount, Entry: []Entry{{ID: "1", Changes: []Change{{
		Field: FieldMessages, Messages: &MessagesValue{MessagingProduct: "whatsapp", Statuses: []Status{{ID: "wamid.X", Status: "sent", Timestamp: 1750030073}}},
	}}}}}
	b, err := jsonMarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timestamp":"1750030073"`) {
		t.Errorf("timestamp not a string: %s", b)
	}
	out, err := ParseWebhook(b)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "status id", out.Statuses()[0].ID, "wamid.X")
}

func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseWebhook(b)
		if err == nil && env == nil {
			t.Fatal("nil envelope without error")
		}
	})
}

package whatsapp

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// TemplateMessage is a template send. Language is the template's language code (es_MX, es, …).
type TemplateMessage struct {
	To                    string
	Name                  string
	Language              string
	Components            []Component
	BizOpaqueCallbackData string // echoed in status webhooks; ≤ 512 chars
}

// Component types and button sub-types of a template send.
const (
	ComponentHeader = "header"
	ComponentBody   = "body"
	ComponentButton = "button"

	ButtonURL        = "url"
	ButtonQuickReply = "quick_reply"
	ButtonCopyCode   = "copy_code"
)

// Component fills one part of a template: header, body or one button (SubType and Index).
type Component struct {
	Type       string
	SubType    string // buttons only: url | quick_reply | copy_code
	Index      int    // buttons only: position of the button in the template, from 0
	Parameters []Parameter
}

// MarshalJSON writes the Cloud API shape (button index as a string, sub_type only on buttons).
func (c Component) MarshalJSON() ([]byte, error) {
	type wire struct {
		Type       string      `json:"type"`
		SubType    string      `json:"sub_type,omitempty"`
		Index      string      `json:"index,omitempty"`
		Parameters []Parameter `json:"parameters,omitempty"`
	}
	w := wire{Type: c.Type, Parameters: c.Parameters}
	if c.Type == ComponentButton {
		w.SubType = c.SubType
		w.Index = strconv.Itoa(c.Index)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the Cloud API shape (index as string or number).
func (c *Component) UnmarshalJSON(b []byte) error {
	var w struct {
		Type       string      `json:"type"`
		SubType    string      `json:"sub_type"`
		Index      FlexInt     `json:"index"`
		Parameters []Parameter `json:"parameters"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Component{Type: w.Type, SubType: w.SubType, Index: int(w.Index), Parameters: w.Parameters}
	return nil
}

// Parameter is one value in a component. Type is text, image, document, video, payload or
// coupon_code; ParameterName is set for templates created with named parameters.
type Parameter struct {
	Type          string `json:"type"`
	ParameterName string `json:"parameter_name,omitempty"`
	Text          string `json:"text,omitempty"`
	Payload       string `json:"payload,omitempty"`
	CouponCode    string `json:"coupon_code,omitempty"`
	Image         *Media `json:"image,omitempty"`
	Document      *Media `json:"document,omitempty"`
	Video         *Media `json:"video,omitempty"`
}

// Media references header media by uploaded ID (preferred at high throughput) or by Link.
type Media struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Filename string `json:"filename,omitempty"` // documents only
}

// Text is a positional text parameter.
func Text(s string) Parameter { return Parameter{Type: "text", Text: s} }

// NamedText is a text parameter for a named-parameter template ({{name}}).
func NamedText(name, s string) Parameter {
	return Parameter{Type: "text", ParameterName: name, Text: s}
}

// Header returns a header component with one parameter (text, image, document or video).
func Header(p Parameter) Component {
	return Component{Type: ComponentHeader, Parameters: []Parameter{p}}
}

// HeaderMedia returns a header parameter of the given format (IMAGE, DOCUMENT, VIDEO, any case).
func HeaderMedia(format string, m Media) Parameter {
	switch format {
	case "DOCUMENT", "document":
		return Parameter{Type: "document", Document: &m}
	case "VIDEO", "video":
		return Parameter{Type: "video", Video: &m}
	default:
		return Parameter{Type: "image", Image: &m}
	}
}

// Body returns a body component with params in order.
func Body(params ...Parameter) Component {
	return Component{Type: ComponentBody, Parameters: params}
}

// URLButton fills the dynamic suffix of the URL button at index.
func URLButton(index int, suffix string) Component {
	return Component{Type: ComponentButton, SubType: ButtonURL, Index: index, Parameters: []Parameter{Text(suffix)}}
}

// QuickReplyButton sets the payload returned in the inbound button webhook when the user taps
// the quick-reply button at index.
func QuickReplyButton(index int, payload string) Component {
	return Component{Type: ComponentButton, SubType: ButtonQuickReply, Index: index, Parameters: []Parameter{{Type: "payload", Payload: payload}}}
}

// CopyCodeButton sets the coupon code of the copy-code button at index.
func CopyCodeButton(index int, code string) Component {
	return Component{Type: ComponentButton, SubType: ButtonCopyCode, Index: index, Parameters: []Parameter{{Type: "coupon_code", CouponCode: code}}}
}

// SendResult is the accepted-send response. MessageStatus is "accepted",
// "held_for_quality_assessment" (pacing), "paused" or empty.
type SendResult struct {
	WAMID         string
	WAID          string
	Input         string
	UserID        string
	MessageStatus string
}

// MessageStatusHeld is the message_status of a send Meta holds while it assesses the quality of
// a template under pacing: it releases the message (normal status webhooks) or drops it with a
// failed status, 132015, within about an hour.
const MessageStatusHeld = "held_for_quality_assessment"

// Held reports whether Meta holds the message for template pacing.
func (r SendResult) Held() bool { return r.MessageStatus == MessageStatusHeld }

// MessageRequest is the POST /{phone_number_id}/messages body the client sends. Exported so
// the simulator and tests decode exactly what the client encodes.
type MessageRequest struct {
	MessagingProduct      string           `json:"messaging_product"`
	RecipientType         string           `json:"recipient_type"`
	To                    string           `json:"to"`
	Type                  string           `json:"type"`
	BizOpaqueCallbackData string           `json:"biz_opaque_callback_data,omitempty"`
	Template              *TemplatePayload `json:"template,omitempty"`
	Text                  *TextPayload     `json:"text,omitempty"`
}

// TemplatePayload is the "template" object of a send.
type TemplatePayload struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

// Language is the template language object.
type Language struct {
	Policy string `json:"policy,omitempty"`
	Code   string `json:"code"`
}

// TextPayload is the "text" object of a free-form send.
type TextPayload struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

// MessageResponse is the success body of a send.
type MessageResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input  string `json:"input"`
		WAID   string `json:"wa_id"`
		UserID string `json:"user_id,omitempty"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status,omitempty"`
	} `json:"messages"`
}

// NewTemplateRequest builds the request body SendTemplate posts.
func NewTemplateRequest(msg TemplateMessage) MessageRequest {
	return MessageRequest{
		MessagingProduct:      "whatsapp",
		RecipientType:         "individual",
		To:                    msg.To,
		Type:                  "template",
		BizOpaqueCallbackData: msg.BizOpaqueCallbackData,
		Template: &TemplatePayload{
			Name:       msg.Name,
			Language:   Language{Policy: "deterministic", Code: msg.Language},
			Components: msg.Components,
		},
	}
}

// NewTextRequest builds the request body SendText posts.
func NewTextRequest(to, body string, previewURL bool) MessageRequest {
	return MessageRequest{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               to,
		Type:             "text",
		Text:             &TextPayload{Body: body, PreviewURL: previewURL},
	}
}

// SendTemplate sends an approved template from phoneNumberID. A nil error means Meta accepted
// (queued) the message, not that it was delivered: follow WAMID in status webhooks.
func (c *Client) SendTemplate(ctx context.Context, phoneNumberID string, msg TemplateMessage) (SendResult, error) {
	op := fmt.Sprintf("sending template %s/%s to %s", msg.Name, msg.Language, msg.To)
	return c.send(ctx, op, phoneNumberID, NewTemplateRequest(msg))
}

// SendText sends a free-form text, only allowed inside the recipient's 24 h service window.
func (c *Client) SendText(ctx context.Context, phoneNumberID, to, body string, previewURL bool) (SendResult, error) {
	return c.send(ctx, "sending text to "+to, phoneNumberID, NewTextRequest(to, body, previewURL))
}

func (c *Client) send(ctx context.Context, op, phoneNumberID string, req MessageRequest) (SendResult, error) {
	var resp MessageResponse
	if err := c.do(ctx, op, "POST", phoneNumberID+"/messages", nil, req, &resp); err != nil {
		return SendResult{}, err
	}
	var r SendResult
	if len(resp.Contacts) > 0 {
		r.Input, r.WAID, r.UserID = resp.Contacts[0].Input, resp.Contacts[0].WAID, resp.Contacts[0].UserID
	}
	if len(resp.Messages) > 0 {
		r.WAMID, r.MessageStatus = resp.Messages[0].ID, resp.Messages[0].MessageStatus
	}
	if r.WAMID == "" {
		return r, fmt.Errorf("%s: response carries no message id", op)
	}
	return r, nil
}

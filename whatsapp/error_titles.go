package whatsapp

import (
	"fmt"
	"sort"
	"strings"
)

// errorTitle is a human title for a code, in Spanish and English.
type errorTitle struct{ es, en string }

// errorTitles covers every code listed in WHATSAPP.md §5 (and 131064). Reports show these
// titles; logic must branch on codes.
var errorTitles = map[int]errorTitle{
	0:       {"Error de autenticación", "Authentication error"},
	1:       {"Error desconocido de la API", "Unknown API error"},
	2:       {"Servicio de WhatsApp no disponible temporalmente", "API service temporarily unavailable"},
	3:       {"Permiso de la API insuficiente", "API method permission missing"},
	4:       {"Límite de llamadas de la aplicación alcanzado", "Application API call limit reached"},
	10:      {"Permiso denegado", "Permission denied"},
	100:     {"Parámetro no válido", "Invalid parameter"},
	190:     {"Token de acceso vencido o no válido", "Access token expired or invalid"},
	200:     {"Permiso de la API faltante", "API permission missing"},
	368:     {"Bloqueado temporalmente por infringir políticas", "Temporarily blocked for policy violations"},
	80007:   {"Límite de llamadas de la cuenta de WhatsApp Business alcanzado", "WhatsApp Business Account rate limit reached"},
	130429:  {"Límite de envío por segundo del número superado", "Throughput (messages per second) limit exceeded"},
	130472:  {"El número del usuario participa en un experimento; no se envió", "User's number is part of an experiment; not sent"},
	130497:  {"La cuenta no puede enviar mensajes a usuarios de este país", "Business account restricted from messaging users in this country"},
	131000:  {"Error interno de WhatsApp", "Something went wrong (internal error)"},
	131008:  {"Falta un parámetro obligatorio", "Required parameter missing"},
	131009:  {"Valor de parámetro no válido", "Parameter value not valid"},
	131016:  {"Servicio sobrecargado o no disponible", "Service overloaded or unavailable"},
	131021:  {"El destinatario es el mismo número que envía", "Recipient cannot be the sender"},
	131026:  {"Mensaje no entregable al destinatario", "Message undeliverable"},
	131031:  {"Cuenta de WhatsApp Business bloqueada", "Business account locked"},
	131037:  {"El número 555 no tiene nombre para mostrar aprobado", "Display name approval required for 555 number"},
	131042:  {"Problema de elegibilidad o de pago de la cuenta", "Business eligibility or payment issue"},
	131047:  {"Pasaron más de 24 h desde el último mensaje del usuario", "Re-engagement message required (more than 24 hours since user's last reply)"},
	131048:  {"Límite antispam alcanzado: demasiados mensajes bloqueados o reportados", "Spam rate limit hit: too many messages blocked or flagged"},
	131049:  {"No entregado para mantener una interacción saludable (tope de marketing por usuario)", "Not delivered to maintain healthy ecosystem engagement (per-user marketing limit)"},
	131050:  {"El usuario dejó de recibir mensajes de marketing de la empresa", "User stopped marketing messages from this business"},
	131051:  {"Tipo de mensaje no admitido", "Unsupported message type"},
	131052:  {"Error al descargar el archivo multimedia recibido", "Media download error"},
	131053:  {"Error al subir el archivo multimedia del mensaje", "Media upload error"},
	131056:  {"Demasiados mensajes al mismo destinatario en poco tiempo", "Pair rate limit hit: too many messages to the same recipient"},
	131057:  {"Cuenta en mantenimiento", "Business account in maintenance mode"},
	131060:  {"Mensaje no admitido en la app WhatsApp Business (coexistencia)", "Unsupported message on the WhatsApp Business app (coexistence)"},
	131062:  {"Este mensaje no admite enviarse a un ID de usuario (BSUID)", "Business-scoped user ID recipient not supported for this message"},
	131063:  {"Plantillas de marketing desactivadas en la Cloud API", "Marketing templates disabled on Cloud API"},
	131064:  {"Límite de mensajes alcanzado por infracciones de clasificación de plantillas", "Messaging limit reached due to template classification violations"},
	132000:  {"La cantidad de parámetros no coincide con la plantilla", "Template parameter count mismatch"},
	132001:  {"La plantilla no existe en ese idioma o no está aprobada", "Template does not exist in this language or is not approved"},
	132005:  {"El texto de la plantilla con parámetros es demasiado largo", "Template hydrated text too long"},
	132007:  {"El contenido de la plantilla infringe las políticas", "Template format character policy violated"},
	132012:  {"El formato de los parámetros no coincide con la plantilla", "Template parameter format mismatch"},
	132015:  {"Plantilla en pausa por baja calidad", "Template paused due to low quality"},
	132016:  {"Plantilla desactivada por pausas repetidas", "Template disabled after repeated pauses"},
	133004:  {"Servidor de WhatsApp no disponible temporalmente", "Server temporarily unavailable"},
	133010:  {"El número no está registrado en la plataforma", "Phone number not registered"},
	2593109: {"La empresa desactivó el historial de chats en la app", "History sync turned off by the business in the WhatsApp Business app"},
}

// ErrorTitle returns a human title for a WhatsApp/Graph error code in lang ("es" or "en";
// anything starting with "es" is Spanish, everything else English). Codes 200–299 share the
// permission title. Unknown codes get a generic "Error N".
func ErrorTitle(code int, lang string) string {
	t, ok := errorTitles[code]
	if !ok && code > 200 && code <= 299 {
		t, ok = errorTitles[200]
	}
	spanish := strings.HasPrefix(strings.ToLower(lang), "es")
	if !ok {
		if spanish {
			return fmt.Sprintf("Error de WhatsApp %d", code)
		}
		return fmt.Sprintf("WhatsApp error %d", code)
	}
	if spanish {
		return t.es
	}
	return t.en
}

// KnownErrorCodes lists the codes ErrorTitle has titles for, ascending.
func KnownErrorCodes() []int {
	codes := make([]int, 0, len(errorTitles))
	for c := range errorTitles {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	return codes
}

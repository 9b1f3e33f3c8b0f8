package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

const langCookie = "pregon_lang"

// langOf is the viewer's language: the cookie set by the language switch, else Spanish.
func langOf(c echo.Context) string {
	if ck, err := c.Cookie(langCookie); err == nil && ck.Value == "en" {
		return "en"
	}
	return "es"
}

// translate looks key up in lang (Spanish as the fallback) and formats args into it.
func translate(lang, key string, args ...any) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == "en" {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// setLang stores the chosen language in a cookie and goes back to the page it came from.
// It changes nothing but a display preference, so a plain link (GET) is enough.
func (u *ui) setLang(c echo.Context) error {
	lang := c.Param("lang")
	if lang != "en" {
		lang = "es"
	}
	c.SetCookie(&http.Cookie{Name: langCookie, Value: lang, Path: "/", SameSite: http.SameSiteLaxMode,
		Expires: u.now().Add(365 * 24 * time.Hour)})
	return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
}

// messages is the catalog: key → {Spanish, English}. Templates name keys with .T; Register
// fails if a template names a key that is missing here.
var messages = map[string][2]string{
	"app.name":          {"Pregón", "Pregón"},
	"app.tagline":       {"Campañas de WhatsApp con consentimiento, al ritmo que Meta permite", "WhatsApp campaigns with consent, at the pace Meta allows"},
	"nav.dashboard":     {"Inicio", "Dashboard"},
	"nav.contacts":      {"Contactos", "Contacts"},
	"nav.imports":       {"Importar", "Import"},
	"nav.segments":      {"Segmentos", "Segments"},
	"nav.templates":     {"Plantillas", "Templates"},
	"nav.campaigns":     {"Campañas", "Campaigns"},
	"nav.reports":       {"Informes", "Reports"},
	"nav.settings":      {"Ajustes", "Settings"},
	"nav.menu":          {"Menú", "Menu"},
	"nav.skip":          {"Saltar al contenido", "Skip to content"},
	"nav.main":          {"Navegación principal", "Main navigation"},
	"nav.logout":        {"Cerrar sesión", "Log out"},
	"nav.workspace":     {"Espacio de trabajo", "Workspace"},
	"nav.switch":        {"Cambiar", "Switch"},
	"nav.language":      {"Idioma", "Language"},
	"role.owner":        {"propietario", "owner"},
	"role.marketer":     {"marketing", "marketer"},
	"role.analyst":      {"analista", "analyst"},
	"common.save":       {"Guardar", "Save"},
	"common.cancel":     {"Cancelar", "Cancel"},
	"common.add":        {"Agregar", "Add"},
	"common.remove":     {"Quitar", "Remove"},
	"common.edit":       {"Editar", "Edit"},
	"common.search":     {"Buscar", "Search"},
	"common.name":       {"Nombre", "Name"},
	"common.email":      {"Correo", "E-mail"},
	"common.role":       {"Rol", "Role"},
	"common.state":      {"Estado", "State"},
	"common.created":    {"Creado", "Created"},
	"common.actions":    {"Acciones", "Actions"},
	"common.none":       {"Nada por aquí todavía.", "Nothing here yet."},
	"common.readonly":   {"Solo lectura: su rol puede ver pero no cambiar esto.", "Read-only: your role can see but not change this."},
	"common.yes":        {"sí", "yes"},
	"common.no":         {"no", "no"},
	"common.next":       {"Siguiente", "Next"},
	"common.back":       {"Atrás", "Back"},
	"common.more":       {"Ver más", "Show more"},
	"common.all":        {"Todos", "All"},
	"common.filter":     {"Filtrar", "Filter"},
	"common.download":   {"Descargar", "Download"},
	"common.details":    {"Detalles", "Details"},
	"common.total":      {"Total", "Total"},
	"common.never":      {"nunca", "never"},
	"common.error_form": {"Revise los campos marcados.", "Please check the highlighted fields."},
	"common.saved":      {"Cambios guardados.", "Changes saved."},
	"common.days":       {"%d días", "%d days"},
	"common.loading":    {"Cargando…", "Loading…"},

	"error.title":     {"Algo salió mal", "Something went wrong"},
	"error.404":       {"No encontramos esa página o ese registro.", "We could not find that page or record."},
	"error.403":       {"Su rol no permite esta acción.", "Your role does not allow this."},
	"error.csrf":      {"El formulario venció. Recargue la página e intente de nuevo.", "The form expired. Reload the page and try again."},
	"error.500":       {"Error interno. Si se repite, avise al equipo con la hora del error.", "Internal error. If it happens again, tell the team when it happened."},
	"error.back_home": {"Volver al inicio", "Back to the dashboard"},

	"login.title":           {"Iniciar sesión", "Log in"},
	"login.email":           {"Correo electrónico", "E-mail"},
	"login.password":        {"Contraseña", "Password"},
	"login.submit":          {"Entrar", "Log in"},
	"login.bad_credentials": {"Correo o contraseña incorrectos.", "Wrong e-mail or password."},
	"login.rate_limited":    {"Demasiados intentos; espere un minuto.", "Too many attempts; wait a minute."},
	"login.no_workspace":    {"Su usuario no pertenece a ningún espacio de trabajo.", "Your user belongs to no workspace."},
	"login.expired":         {"El formulario venció; intente de nuevo.", "The form expired; try again."},
	"login.required":        {"Escriba su correo y su contraseña.", "Type your e-mail and password."},
	"logout.done":           {"Sesión cerrada.", "Logged out."},
	"switch.done":           {"Ahora trabaja en «%s».", "You are now working in “%s”."},

	"dash.title":                 {"Inicio", "Dashboard"},
	"dash.numbers":               {"Números de envío", "Sender numbers"},
	"dash.no_numbers":            {"Aún no hay números conectados.", "No numbers connected yet."},
	"dash.connect":               {"Conectar un número", "Connect a number"},
	"dash.quality":               {"Calidad", "Quality"},
	"dash.throughput":            {"Velocidad", "Throughput"},
	"dash.mps":                   {"%d msj/s", "%d msg/s"},
	"dash.limit":                 {"Límite de mensajería", "Messaging limit"},
	"dash.budget":                {"Usado en 24 h", "Used in 24 h"},
	"dash.budget_of":             {"%s de %s destinatarios únicos", "%s of %s unique recipients"},
	"dash.budget_resets":         {"se libera cupo desde %s", "room frees up from %s"},
	"dash.unlimited":             {"ilimitado", "unlimited"},
	"dash.phone_app":             {"App del teléfono", "Phone app"},
	"dash.phone_seen":            {"activa hace %d días", "active %d days ago"},
	"dash.phone_today":           {"activa hoy", "active today"},
	"dash.phone_unknown":         {"sin actividad registrada", "no activity seen"},
	"dash.phone_warn":            {"Abra WhatsApp Business en el teléfono: Meta desconecta el número si la app pasa 14 días cerrada (quedan %d días).", "Open WhatsApp Business on the phone: Meta disconnects the number if the app stays closed for 14 days (%d days left)."},
	"dash.phone_gone":            {"La app lleva 14 días o más cerrada: el número puede estar desconectado.", "The app has been closed 14 days or more: the number may be disconnected."},
	"dash.coexistence":           {"Coexistencia", "Coexistence"},
	"dash.status":                {"Estado", "Status"},
	"dash.campaigns":             {"Campañas en curso", "Active campaigns"},
	"dash.no_campaigns":          {"No hay campañas en curso, pausadas ni programadas.", "No running, paused or scheduled campaigns."},
	"dash.progress":              {"Progreso", "Progress"},
	"dash.progress_text":         {"%s de %s procesados", "%s of %s processed"},
	"dash.new_campaign":          {"Nueva campaña", "New campaign"},
	"dash.scheduled_for":         {"Programada para %s", "Scheduled for %s"},
	"number.status.active":       {"activo", "active"},
	"number.status.halted":       {"detenido", "halted"},
	"number.status.disconnected": {"desconectado", "disconnected"},

	"state.draft":     {"borrador", "draft"},
	"state.scheduled": {"programada", "scheduled"},
	"state.running":   {"enviando", "running"},
	"state.paused":    {"pausada", "paused"},
	"state.completed": {"terminada", "completed"},
	"state.cancelled": {"cancelada", "cancelled"},

	"tmpl.title":       {"Plantillas", "Templates"},
	"tmpl.sync":        {"Sincronizar con Meta", "Sync with Meta"},
	"tmpl.synced":      {"Última sincronización", "Last sync"},
	"tmpl.status":      {"Estado", "Status"},
	"tmpl.category":    {"Categoría", "Category"},
	"tmpl.quality":     {"Calidad", "Quality"},
	"tmpl.language":    {"Idioma", "Language"},
	"tmpl.params":      {"Parámetros", "Parameters"},
	"tmpl.no_params":   {"Esta plantilla no tiene variables.", "This template has no variables."},
	"tmpl.none":        {"No hay plantillas. Sincronice con Meta para traerlas.", "No templates. Sync with Meta to bring them in."},
	"tmpl.preview":     {"Vista previa", "Preview"},
	"tmpl.key":         {"Clave", "Key"},
	"tmpl.what":        {"Qué es", "What it is"},
	"tmpl.example":     {"Ejemplo", "Example"},
	"tmpl.history":     {"Historial de estado y calidad", "Status and quality history"},
	"tmpl.change":      {"Cambio", "Change"},
	"tmpl.from":        {"De", "From"},
	"tmpl.to":          {"A", "To"},
	"tmpl.source":      {"Origen", "Source"},
	"tmpl.sync_done":   {"%d plantillas leídas de Meta: %d nuevas, %d cambios de estado o calidad, %d campañas pausadas.", "%d templates read from Meta: %d new, %d status or quality changes, %d campaigns paused."},
	"tmpl.sync_failed": {"No se pudo sincronizar: %s", "Sync failed: %s"},

	"settings.title":           {"Ajustes", "Settings"},
	"settings.workspace":       {"Espacio de trabajo", "Workspace"},
	"settings.ws_name":         {"Nombre del negocio", "Business name"},
	"settings.time_zone":       {"Zona horaria", "Time zone"},
	"settings.country":         {"País por defecto de los teléfonos", "Default country for phone numbers"},
	"settings.messaging_limit": {"Límite de mensajería de Meta (destinatarios únicos en 24 h)", "Meta messaging limit (unique recipients in 24 h)"},
	"settings.quiet":           {"Horario de silencio", "Quiet hours"},
	"settings.quiet_help":      {"No se envía entre estas horas (hora local del espacio de trabajo).", "Nothing is sent between these times (workspace local time)."},
	"settings.quiet_start":     {"Desde", "From"},
	"settings.quiet_end":       {"Hasta", "Until"},
	"settings.freq":            {"Tope de frecuencia", "Frequency cap"},
	"settings.freq_cap":        {"Mensajes de marketing por contacto", "Marketing messages per contact"},
	"settings.freq_days":       {"cada (días)", "every (days)"},
	"settings.autopause":       {"Pausa automática", "Auto-pause"},
	"settings.pause_on_yellow": {"Pausar cuando la calidad de la plantilla baja a AMARILLA", "Pause when template quality drops to YELLOW"},
	"settings.auto_resume":     {"Reanudar sola cuando la plantilla vuelve a APROBADA", "Resume by itself when the template is APPROVED again"},
	"settings.breaker_window":  {"Últimos N resultados que se vigilan", "Last N outcomes watched"},
	"settings.breaker_ratio":   {"Pausar si la proporción de fallos supera (0–1)", "Pause when the failure share exceeds (0–1)"},
	"settings.hold_active":     {"No enviar a contactos con quienes el dueño está chateando ahora", "Hold back contacts the owner is chatting with right now"},
	"settings.optout":          {"Baja voluntaria", "Opt-out"},
	"settings.optout_keywords": {"Palabras clave de baja (una por línea)", "Opt-out keywords (one per line)"},
	"settings.optout_confirm":  {"Mensaje de confirmación de baja", "Opt-out confirmation message"},
	"settings.users":           {"Usuarios y roles", "Users and roles"},
	"settings.user_add":        {"Agregar usuario", "Add user"},
	"settings.password":        {"Contraseña inicial (mínimo 10 caracteres)", "Initial password (at least 10 characters)"},
	"settings.role_help":       {"Propietario: todo. Marketing: importar, segmentar y preparar campañas. Analista: ver y exportar.", "Owner: everything. Marketer: import, segment and draft campaigns. Analyst: view and export."},
	"settings.user_added":      {"Usuario agregado.", "User added."},
	"settings.user_removed":    {"Usuario quitado del espacio de trabajo.", "User removed from the workspace."},
	"settings.role_changed":    {"Rol actualizado.", "Role updated."},
	"settings.last_login":      {"Último acceso", "Last login"},
	"settings.tokens":          {"Tokens de API", "API tokens"},
	"settings.token_create":    {"Crear token", "Create token"},
	"settings.token_secret":    {"Copie este token ahora: no se volverá a mostrar.", "Copy this token now: it will not be shown again."},
	"settings.token_revoke":    {"Revocar", "Revoke"},
	"settings.token_revoked":   {"Token revocado.", "Token revoked."},
	"settings.token_prefix":    {"Prefijo", "Prefix"},
	"settings.token_last_used": {"Último uso", "Last used"},
	"settings.revoked":         {"revocado", "revoked"},
	"settings.numbers":         {"Números de envío", "Sender numbers"},
	"settings.number_add":      {"Conectar número", "Connect number"},
	"settings.phone_number_id": {"Phone number ID (de Meta)", "Phone number ID (from Meta)"},
	"settings.waba_id":         {"WABA ID", "WABA ID"},
	"settings.display_number":  {"Número visible", "Display number"},
	"settings.access_token":    {"Token de acceso (se guarda cifrado)", "Access token (stored encrypted)"},
	"settings.app_secret":      {"App secret (se guarda cifrado)", "App secret (stored encrypted)"},
	"settings.verify_token":    {"Verify token del webhook", "Webhook verify token"},
	"settings.secret_keep":     {"Déjelo vacío para conservar el actual.", "Leave empty to keep the current one."},
	"settings.secret_set":      {"configurado", "set"},
	"settings.secret_unset":    {"sin configurar", "not set"},
	"settings.use_simulator":   {"Usar el simulador integrado (sin enviar a Meta)", "Use the built-in simulator (nothing sent to Meta)"},
	"settings.coexistence":     {"Coexistencia: el número también está en la app WhatsApp Business (máx. 20 msj/s)", "Coexistence: the number is also in the WhatsApp Business app (max 20 msg/s)"},
	"settings.throughput_cap":  {"Tope propio de mensajes por segundo (vacío: sin tope)", "Own cap on messages per second (empty: none)"},
	"settings.number_status":   {"Estado del número", "Number status"},
	"settings.number_added":    {"Número conectado.", "Number connected."},
	"settings.number_saved":    {"Número actualizado.", "Number updated."},
	"settings.token_created":   {"Token creado.", "Token created."},
}

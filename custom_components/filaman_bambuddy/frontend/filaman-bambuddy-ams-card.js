/*
 * FilaMan ⇄ Bambuddy — AMS dashboard card.
 *
 * Plain custom element with shadow DOM and no build step: Home Assistant serves this file as it is.
 * The card finds its entities through the entity and device registries (platform, device, translation
 * key), never through entity ids, so renamed entities keep working.
 *
 * Config: { type: "custom:filaman-bambuddy-ams-card", device_id: "<printer device id>" }
 */

const DOMAIN = "filaman_bambuddy";
const CARD_TAG = "filaman-bambuddy-ams-card";
// The resource URL carries the integration version (?v=…); show it in the console banner.
const CARD_VERSION = new URL(import.meta.url).searchParams.get("v") || "dev";
const EXTERNAL_AMS_ID = 255;
const HT_AMS_ID_BASE = 128;
const UNAVAILABLE = new Set(["unavailable", "unknown"]);

const TEXT = {
  en: {
    card_name: "FilaMan AMS",
    card_description: "The AMS units and external spool of a Bambu Lab printer, with the FilaMan spool in each slot.",
    printer: "Printer",
    printer_helper: "The Bambu Lab printer whose AMS the card shows.",
    choose_printer: "Choose a printer in the card settings.",
    no_slots: "No AMS slots found for this printer.",
    printer_offline: "Printer offline",
    online: "Online",
    offline: "Offline",
    external: "External spool",
    externals: "External spools",
    empty: "Empty",
    active: "Active",
    unknown_material: "Unknown",
    not_linked: "No FilaMan spool",
    humidity: "Humidity",
    temperature: "Temperature",
    printer_percent: "printer",
    picker_title: "Slot {slot}",
    picker_search: "Search by name, material, colour or #id",
    picker_assigned: "In the slot now: {spool}",
    picker_unassigned: "No spool assigned to this slot.",
    picker_foreign: "A Bambuddy spool that is not linked to FilaMan.",
    picker_loading: "Loading FilaMan spools…",
    picker_none: "No FilaMan spool matches.",
    picker_count: "{shown} of {total} spools",
    picker_loaded_in: "in {slot}",
    picker_assign: "Assign",
    picker_unassign: "Unassign",
    picker_details: "Details",
    picker_close: "Close",
    picker_done_assign: "{spool} is in slot {slot} now.",
    picker_done_unassign: "Slot {slot} has no spool assigned now.",
    print_state: {
      idle: "Idle", prepare: "Preparing", slicing: "Slicing", running: "Printing", pause: "Paused",
      finish: "Finished", failed: "Failed", unknown: "Unknown",
    },
  },
  de: {
    card_name: "FilaMan AMS",
    card_description: "Die AMS-Einheiten und die externe Spule eines Bambu-Lab-Druckers, mit der FilaMan-Spule in jedem Slot.",
    printer: "Drucker",
    printer_helper: "Der Bambu-Lab-Drucker, dessen AMS die Karte zeigt.",
    choose_printer: "Wähle in den Karteneinstellungen einen Drucker.",
    no_slots: "Für diesen Drucker wurden keine AMS-Slots gefunden.",
    printer_offline: "Drucker offline",
    online: "Online",
    offline: "Offline",
    external: "Externe Spule",
    externals: "Externe Spulen",
    empty: "Leer",
    active: "Aktiv",
    unknown_material: "Unbekannt",
    not_linked: "Keine FilaMan-Spule",
    humidity: "Luftfeuchte",
    temperature: "Temperatur",
    printer_percent: "Drucker",
    picker_title: "Slot {slot}",
    picker_search: "Suche nach Name, Material, Farbe oder #ID",
    picker_assigned: "Jetzt im Slot: {spool}",
    picker_unassigned: "Diesem Slot ist keine Spule zugewiesen.",
    picker_foreign: "Eine Bambuddy-Spule, die mit keiner FilaMan-Spule verknüpft ist.",
    picker_loading: "FilaMan-Spulen werden geladen…",
    picker_none: "Keine FilaMan-Spule passt.",
    picker_count: "{shown} von {total} Spulen",
    picker_loaded_in: "in {slot}",
    picker_assign: "Zuweisen",
    picker_unassign: "Zuweisung lösen",
    picker_details: "Details",
    picker_close: "Schließen",
    picker_done_assign: "{spool} steckt jetzt in Slot {slot}.",
    picker_done_unassign: "Slot {slot} ist jetzt keine Spule zugewiesen.",
    print_state: {
      idle: "Bereit", prepare: "Vorbereitung", slicing: "Slicen", running: "Druckt", pause: "Pausiert",
      finish: "Fertig", failed: "Fehlgeschlagen", unknown: "Unbekannt",
    },
  },
};

function languageOf(hass) {
  const lang = hass?.locale?.language || hass?.language || document.documentElement.lang || "en";
  return String(lang).toLowerCase().startsWith("de") ? "de" : "en";
}

function textFor(hass) {
  return TEXT[languageOf(hass)];
}

/** "Slot {slot}" with its placeholders filled in. */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (match, key) => (key in values ? String(values[key]) : match));
}

function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
  ));
}

/** Only well-formed hex colours reach a style attribute. */
function safeColor(value) {
  return typeof value === "string" && /^#[0-9a-f]{6}([0-9a-f]{2})?$/i.test(value) ? value : null;
}

function numberOrNull(value) {
  const n = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(n) ? n : null;
}

/** "AMS A" for units 0–3, "AMS HT 1" for 128–135, as the integration names its devices. */
function unitLabelFromAmsId(amsId) {
  if (amsId >= HT_AMS_ID_BASE && amsId < HT_AMS_ID_BASE + 8) return `AMS HT ${amsId - HT_AMS_ID_BASE + 1}`;
  if (amsId >= 0 && amsId < 26) return `AMS ${String.fromCharCode(65 + amsId)}`;
  return `AMS ${amsId}`;
}

/** "AMS A", 2 → "A3"; "AMS HT 1", 0 → "HT1"; anything else → "3". */
function slotLabelInUnit(unitLabel, index) {
  const match = /^AMS (?:([A-Z])|HT (\d+))$/.exec(unitLabel);
  if (!match) return String(index + 1);
  return match[1] ? `${match[1]}${index + 1}` : `HT${match[2]}`;
}

function deviceName(device) {
  return device?.name_by_user || device?.name || "";
}

/** The unit part of an AMS device name ("X1C AMS A" → "AMS A"). */
function unitLabelFromDevice(device, printerName) {
  const name = deviceName(device);
  if (printerName && name.startsWith(`${printerName} `)) return name.slice(printerName.length + 1);
  return name;
}

function compareNatural(a, b) {
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/**
 * Everything the card shows, built from hass alone (plus the last attributes seen per entity, so an
 * unavailable slot still shows what it held, greyed). Pure data; rendering happens elsewhere.
 */
function buildModel(hass, printerDeviceId, lastKnown) {
  const devices = hass.devices || {};
  const printer = devices[printerDeviceId];
  const printerName = deviceName(printer);
  const deviceIds = new Set([printerDeviceId]);
  for (const device of Object.values(devices)) {
    if (device.via_device_id === printerDeviceId) deviceIds.add(device.id);
  }
  const ours = Object.values(hass.entities || {}).filter(
    (entry) => entry.platform === DOMAIN && deviceIds.has(entry.device_id),
  );
  const byKey = (key) => ours.filter((entry) => entry.translation_key === key);
  const stateOf = (entry) => (entry ? hass.states[entry.entity_id] : undefined);

  const onlineState = stateOf(byKey("online")[0]);
  const printStateObj = stateOf(byKey("print_state")[0]);
  const progressObj = stateOf(byKey("progress").find((e) => e.device_id === printerDeviceId));

  const slotOf = (entry) => {
    const stateObj = stateOf(entry);
    const available = Boolean(stateObj) && !UNAVAILABLE.has(stateObj.state);
    if (available) lastKnown.set(entry.entity_id, { ...stateObj.attributes, state: stateObj.state });
    const attrs = available ? { ...stateObj.attributes, state: stateObj.state } : lastKnown.get(entry.entity_id) || {};
    return {
      entityId: entry.entity_id,
      deviceId: entry.device_id,
      available,
      amsId: numberOrNull(attrs.ams_id),
      trayId: numberOrNull(attrs.tray_id),
      label: attrs.slot_label || "",
      color: safeColor(attrs.color),
      material: attrs.material || (attrs.state && attrs.state !== "empty" ? attrs.state : null),
      remain: numberOrNull(attrs.remain),
      active: attrs.active === true,
      empty: attrs.empty === true || attrs.state === "empty",
      spoolId: numberOrNull(attrs.filaman_spool_id),
      spoolName: attrs.filaman_spool_name || null,
      remainingGrams: numberOrNull(attrs.filaman_remaining_g),
      netGrams: numberOrNull(attrs.filaman_net_weight_g),
      assigned: numberOrNull(attrs.bambuddy_spool_id) !== null,
      known: Object.keys(attrs).length > 0,
    };
  };
  const bySlotOrder = (a, b) => (
    (a.trayId ?? 1e9) - (b.trayId ?? 1e9) || compareNatural(a.label || a.entityId, b.label || b.entityId)
  );

  const units = new Map();
  for (const slot of byKey("slot").map(slotOf)) {
    const key = slot.amsId !== null ? `ams:${slot.amsId}` : `device:${slot.deviceId}`;
    if (!units.has(key)) units.set(key, { key, amsId: slot.amsId, deviceId: slot.deviceId, slots: [] });
    units.get(key).slots.push(slot);
  }
  const unitList = [...units.values()].map((unit) => {
    unit.slots.sort(bySlotOrder);
    const unitEntities = ours.filter((e) => e.device_id === unit.deviceId);
    const env = (key) => {
      const s = stateOf(unitEntities.find((e) => e.translation_key === key));
      return s && !UNAVAILABLE.has(s.state) ? numberOrNull(s.state) : null;
    };
    const fromDevice = unit.deviceId !== printerDeviceId ? unitLabelFromDevice(devices[unit.deviceId], printerName) : "";
    const label = fromDevice || (unit.amsId !== null ? unitLabelFromAmsId(unit.amsId) : "AMS");
    // Unavailable since the page loaded: no attributes, so label the slots as the integration does.
    unit.slots.forEach((slot, index) => { slot.label ||= slotLabelInUnit(label, index); });
    return {
      ...unit,
      label,
      humidity: env("ams_humidity"),
      temperature: env("ams_temperature"),
    };
  });
  unitList.sort((a, b) => (a.amsId ?? 1e9) - (b.amsId ?? 1e9) || compareNatural(a.label, b.label));

  const externals = byKey("external_slot").map(slotOf).sort(bySlotOrder);
  externals.forEach((slot, index) => { slot.label ||= index === 0 ? "Ext" : `Ext ${index + 1}`; });
  const allSlots = [...unitList.flatMap((u) => u.slots), ...externals];
  const onlineKnown = Boolean(onlineState);
  const offline = (onlineKnown && onlineState.state !== "on")
    || (allSlots.length > 0 && allSlots.every((slot) => !slot.available));

  return {
    printerName,
    printerFound: Boolean(printer),
    offline,
    printState: printStateObj && !UNAVAILABLE.has(printStateObj.state) ? printStateObj : null,
    progress: progressObj && !UNAVAILABLE.has(progressObj.state) ? numberOrNull(progressObj.state) : null,
    units: unitList,
    externals,
  };
}

const STYLE = `
  :host { display: block; }
  ha-card { padding: 12px 16px 16px; box-sizing: border-box; height: 100%; }
  .header { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; margin-bottom: 8px; }
  .title { font-size: 1.15em; font-weight: 500; color: var(--primary-text-color); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .status { font-size: 0.9em; color: var(--secondary-text-color); white-space: nowrap; }
  .status .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 4px; background: var(--success-color, #43a047); }
  .offline .status .dot { background: var(--error-color, #db4437); }
  .banner { display: none; margin: 4px 0 10px; padding: 6px 10px; border-radius: 8px; font-weight: 500;
    color: var(--error-color, #db4437); background: rgba(219, 68, 55, 0.1); }
  .offline .banner { display: block; }
  .unit { margin-top: 10px; }
  .unit-title { display: flex; justify-content: space-between; font-size: 0.85em; font-weight: 500;
    color: var(--secondary-text-color); margin-bottom: 6px; text-transform: none; }
  .slots { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
  .offline .slots { filter: grayscale(1); opacity: 0.55; }
  .slot { all: unset; box-sizing: border-box; cursor: pointer; display: flex; flex-direction: column; align-items: center;
    gap: 2px; min-width: 0; padding: 8px 4px; border-radius: 10px; text-align: center;
    border: 2px solid var(--divider-color, rgba(0, 0, 0, 0.12)); background: var(--secondary-background-color, transparent); }
  .slot:focus-visible { outline: 2px solid var(--primary-color); }
  .slot.active { border-color: var(--primary-color, #03a9f4); box-shadow: 0 0 0 2px rgba(3, 169, 244, 0.25); }
  .swatch { width: 34px; height: 34px; border-radius: 50%; background: var(--slot-color, transparent);
    border: 1px solid rgba(127, 127, 127, 0.5); position: relative; overflow: hidden; }
  .swatch.unknown { background: repeating-linear-gradient(45deg, #bbb 0 4px, #eee 4px 8px); }
  .empty .swatch { border: 2px dashed var(--disabled-text-color, #9e9e9e); background: transparent; }
  .level { width: 34px; height: 4px; border-radius: 2px; background: var(--divider-color, #ddd); overflow: hidden; }
  .level > span { display: block; height: 100%; background: var(--primary-color, #03a9f4); }
  .label { font-size: 0.75em; color: var(--secondary-text-color); }
  .material { font-weight: 600; font-size: 0.95em; color: var(--primary-text-color); }
  .spool { font-size: 0.8em; line-height: 1.25; color: var(--primary-text-color); max-width: 100%; overflow: hidden;
    display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2; overflow-wrap: anywhere; }
  .spool.none, .grams.none { color: var(--secondary-text-color); font-style: italic; }
  .grams { font-size: 0.8em; color: var(--secondary-text-color); }
  .badge { font-size: 0.7em; font-weight: 600; color: var(--text-primary-color, #fff); background: var(--primary-color, #03a9f4);
    border-radius: 8px; padding: 0 6px; }
  .message { color: var(--secondary-text-color); padding: 8px 0; }
  .grams .source { font-style: italic; }

  .backdrop { position: fixed; inset: 0; z-index: 10; display: flex; align-items: center; justify-content: center;
    background: rgba(0, 0, 0, 0.45); }
  .panel { box-sizing: border-box; width: min(480px, calc(100vw - 24px)); max-height: calc(100vh - 48px);
    display: flex; flex-direction: column; gap: 8px; padding: 16px; border-radius: 16px;
    background: var(--card-background-color, #fff); color: var(--primary-text-color);
    box-shadow: 0 8px 24px rgba(0, 0, 0, 0.3); }
  .p-head { display: flex; align-items: center; gap: 8px; }
  .p-title { font-size: 1.15em; font-weight: 500; flex: 1; }
  .p-tray { color: var(--secondary-text-color); font-size: 0.9em; }
  .p-current { font-size: 0.9em; color: var(--secondary-text-color); }
  .search { box-sizing: border-box; width: 100%; padding: 8px 10px; border-radius: 8px; font: inherit;
    border: 1px solid var(--divider-color, #ccc); background: var(--secondary-background-color, transparent);
    color: var(--primary-text-color); }
  .list { overflow-y: auto; min-height: 120px; max-height: 50vh; display: flex; flex-direction: column; gap: 2px; }
  .row { all: unset; box-sizing: border-box; cursor: pointer; display: grid; grid-template-columns: 18px 1fr;
    column-gap: 8px; align-items: center; padding: 6px 8px; border-radius: 8px; }
  .row:hover, .row:focus-visible { background: var(--secondary-background-color, rgba(127, 127, 127, 0.1)); }
  .row.selected { background: rgba(3, 169, 244, 0.18); outline: 1px solid var(--primary-color, #03a9f4); }
  .row .sw { width: 16px; height: 16px; border-radius: 50%; border: 1px solid rgba(127, 127, 127, 0.5);
    background: var(--slot-color, transparent); grid-row: span 2; }
  .row .name { font-size: 0.95em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .row .meta { font-size: 0.8em; color: var(--secondary-text-color); }
  .row.fit .name { font-weight: 600; }
  .p-count, .p-empty { font-size: 0.8em; color: var(--secondary-text-color); }
  .p-status { min-height: 1.2em; font-size: 0.9em; }
  .p-status.error { color: var(--error-color, #db4437); }
  .p-status.ok { color: var(--success-color, #43a047); }
  .p-actions { display: flex; gap: 8px; justify-content: flex-end; flex-wrap: wrap; }
  .p-actions button { font: inherit; padding: 6px 14px; border-radius: 18px; cursor: pointer;
    border: 1px solid var(--primary-color, #03a9f4); background: transparent; color: var(--primary-color, #03a9f4); }
  .p-actions button.assign { background: var(--primary-color, #03a9f4); color: var(--text-primary-color, #fff); }
  .p-actions button:disabled { opacity: 0.4; cursor: default; }
`;

const SEARCH_DELAY_MS = 250;

class FilamanBambuddyAmsCard extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.shadowRoot.innerHTML = `<style>${STYLE}</style><div class="root"></div><div class="picker-host"></div>`;
    this._root = this.shadowRoot.querySelector(".root");
    this._pickerHost = this.shadowRoot.querySelector(".picker-host");
    this._lastKnown = new Map();
    this._rendered = "";
    this._picker = null;
    this._pickerRendered = "";
    this._root.addEventListener("click", (event) => this._onSlotClick(event));
    this._pickerHost.addEventListener("click", (event) => this._onPickerClick(event));
    this._pickerHost.addEventListener("input", (event) => this._onPickerInput(event));
    // While the picker is open, Escape closes it wherever the focus is.
    this._onKeydown = (event) => {
      if (event.key === "Escape" && this._picker) {
        event.stopPropagation();
        this._closePicker();
      }
    };
  }

  disconnectedCallback() {
    this._closePicker();
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    this._config = { ...config };
    this._rendered = "";
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    this._render();
    if (this._picker) this._renderPicker();
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    const model = this._model();
    if (!model) return 2;
    return 1 + 2 * (model.units.length + (model.externals.length ? 1 : 0));
  }

  getGridOptions() {
    return { columns: 12, rows: "auto", min_columns: 6 };
  }

  static getConfigForm() {
    return {
      schema: [
        {
          name: "device_id",
          required: true,
          selector: {
            device: {
              filter: { integration: DOMAIN },
              // Only printers: the AMS unit and server devices have no connectivity sensor.
              entity: { integration: DOMAIN, domain: "binary_sensor", device_class: "connectivity" },
            },
          },
        },
      ],
      computeLabel: (schema) => (schema.name === "device_id" ? textFor(null).printer : undefined),
      computeHelper: (schema) => (schema.name === "device_id" ? textFor(null).printer_helper : undefined),
    };
  }

  static getStubConfig(hass) {
    const online = Object.values(hass?.entities || {}).find(
      (entry) => entry.platform === DOMAIN && entry.translation_key === "online" && entry.device_id,
    );
    return { device_id: online ? online.device_id : "" };
  }

  _model() {
    if (!this._hass || !this._config?.device_id) return null;
    return buildModel(this._hass, this._config.device_id, this._lastKnown);
  }

  _openMoreInfo(entityId) {
    this.dispatchEvent(new CustomEvent("hass-more-info", {
      detail: { entityId }, bubbles: true, composed: true,
    }));
  }

  _render() {
    if (!this._config) return;
    const t = textFor(this._hass);
    const model = this._model();
    const html = model ? this._renderModel(model, t) : `<div class="message">${escapeHtml(t.choose_printer)}</div>`;
    if (html === this._rendered) return; // nothing this card shows has changed
    this._rendered = html;
    this._root.innerHTML = html;
  }

  _renderModel(model, t) {
    if (!model.units.length && !model.externals.length) {
      return `<ha-card><div class="message">${escapeHtml(t.no_slots)}</div></ha-card>`;
    }
    const status = model.offline
      ? t.offline
      : [t.online, this._printStateText(model, t)].filter(Boolean).join(" · ");
    const units = model.units.map((unit) => {
      const env = [
        unit.humidity !== null ? `${t.humidity} ${this._number(unit.humidity)} %` : "",
        unit.temperature !== null ? `${this._number(unit.temperature)} °C` : "",
      ].filter(Boolean).join(" · ");
      return `
        <section class="unit" data-unit="${escapeHtml(unit.label)}" data-ams-id="${escapeHtml(unit.amsId ?? "")}">
          <div class="unit-title"><span>${escapeHtml(unit.label)}</span><span>${escapeHtml(env)}</span></div>
          <div class="slots">${unit.slots.map((slot) => this._renderSlot(slot, t)).join("")}</div>
        </section>`;
    }).join("");
    const externals = model.externals.length ? `
        <section class="unit external" data-unit="external">
          <div class="unit-title"><span>${escapeHtml(model.externals.length > 1 ? t.externals : t.external)}</span></div>
          <div class="slots">${model.externals.map((slot) => this._renderSlot(slot, t)).join("")}</div>
        </section>` : "";
    return `
      <ha-card class="${model.offline ? "offline" : "online"}" data-state="${model.offline ? "offline" : "online"}">
        <div class="header">
          <div class="title">${escapeHtml(model.printerName || t.card_name)}</div>
          <div class="status"><span class="dot"></span>${escapeHtml(status)}</div>
        </div>
        <div class="banner" role="status">${escapeHtml(t.printer_offline)}</div>
        ${units}${externals}
      </ha-card>`;
  }

  _renderSlot(slot, t) {
    const label = slot.label;
    const classes = ["slot", slot.active ? "active" : "", slot.empty ? "empty" : "", slot.available ? "" : "unavailable"];
    // The bar and the grams tell one story: FilaMan's grams left of the spool's net weight. The
    // printer's own remain % shows only where no FilaMan spool is known, and says so.
    const share = slot.spoolName && slot.remainingGrams !== null && slot.netGrams
      ? (100 * slot.remainingGrams) / slot.netGrams
      : (!slot.spoolName ? slot.remain : null);
    let details;
    if (slot.empty) {
      details = `<span class="material">${escapeHtml(t.empty)}</span>`;
    } else if (!slot.known) {
      details = `<span class="material">—</span>`;
    } else {
      let grams = "";
      if (slot.spoolName && slot.remainingGrams !== null) {
        grams = `<span class="grams">${escapeHtml(`${this._number(Math.round(slot.remainingGrams))} g`)}</span>`;
      } else if (!slot.spoolName && slot.remain !== null) {
        grams = `<span class="grams">${escapeHtml(`${this._number(slot.remain)} %`)} <span class="source">(${escapeHtml(t.printer_percent)})</span></span>`;
      }
      details = `
        <span class="material">${escapeHtml(slot.material || t.unknown_material)}</span>
        <span class="spool${slot.spoolName ? "" : " none"}">${escapeHtml(slot.spoolName || t.not_linked)}</span>
        ${grams}`;
    }
    const level = !slot.empty && share !== null
      ? `<span class="level"><span style="width:${Math.max(0, Math.min(100, share)).toFixed(1)}%"></span></span>` : "";
    const swatchStyle = slot.color && !slot.empty ? ` style="--slot-color:${slot.color}"` : "";
    const swatchClass = !slot.empty && !slot.color ? "swatch unknown" : "swatch";
    const tooltip = [label, slot.material, slot.spoolName].filter(Boolean).join(" · ");
    return `
      <button class="${classes.filter(Boolean).join(" ")}" type="button" title="${escapeHtml(tooltip)}"
        data-entity="${escapeHtml(slot.entityId)}" data-slot="${escapeHtml(label)}"
        data-ams-id="${escapeHtml(slot.amsId ?? "")}" data-tray-id="${escapeHtml(slot.trayId ?? "")}"
        data-color="${escapeHtml(slot.empty ? "" : slot.color || "")}" data-material="${escapeHtml(slot.empty ? "" : slot.material || "")}">
        <span class="${swatchClass}"${swatchStyle}></span>
        ${level}
        <span class="label">${escapeHtml(label)}</span>
        ${details}
        ${slot.active ? `<span class="badge">${escapeHtml(t.active)}</span>` : ""}
      </button>`;
  }

  // --- the spool picker ------------------------------------------------------------------

  _onSlotClick(event) {
    const tile = event.composedPath().find((node) => node?.dataset?.entity);
    if (!tile) return;
    const amsId = numberOrNull(tile.dataset.amsId);
    const trayId = numberOrNull(tile.dataset.trayId);
    if (amsId === null || trayId === null) {
      this._openMoreInfo(tile.dataset.entity); // a slot never seen available: nothing to assign
      return;
    }
    this._picker = {
      entityId: tile.dataset.entity, label: tile.dataset.slot, amsId, trayId,
      query: "", spools: null, total: 0, assignedId: null, assigned: false,
      selected: null, status: null, busy: false, request: 0, timer: null,
    };
    window.addEventListener("keydown", this._onKeydown, true);
    this._renderPicker(true);
    this._fetchSpools();
  }

  _slot() {
    const model = this._model();
    const slots = model ? [...model.units.flatMap((u) => u.slots), ...model.externals] : [];
    return slots.find((slot) => slot.entityId === this._picker?.entityId) || null;
  }

  async _fetchSpools() {
    const picker = this._picker;
    if (!picker) return;
    const request = ++picker.request;
    try {
      const result = await this._hass.callWS({
        type: `${DOMAIN}/slot_spools`, device_id: this._config.device_id,
        ams_id: picker.amsId, tray_id: picker.trayId, query: picker.query,
      });
      if (this._picker !== picker || request !== picker.request) return; // a newer search won
      picker.spools = result.spools;
      picker.total = result.total;
      picker.assignedId = result.assigned_filaman_spool_id;
      picker.assigned = result.assigned;
      if (picker.selected === null && picker.spools.length) picker.selected = picker.spools[0].id;
    } catch (err) {
      if (this._picker !== picker) return;
      picker.spools = [];
      picker.status = { ok: false, text: err?.message || String(err) };
    }
    this._renderPicker();
  }

  _onPickerInput(event) {
    const picker = this._picker;
    if (!picker || !event.target.classList.contains("search")) return;
    picker.query = event.target.value;
    clearTimeout(picker.timer);
    picker.timer = setTimeout(() => { picker.selected = null; this._fetchSpools(); }, SEARCH_DELAY_MS);
  }

  async _onPickerClick(event) {
    const picker = this._picker;
    if (!picker) return;
    const path = event.composedPath();
    if (path[0]?.classList?.contains("backdrop")) { this._closePicker(); return; }
    const row = path.find((node) => node?.classList?.contains("row"));
    if (row) {
      picker.selected = Number(row.dataset.spoolId);
      this._renderPicker();
      return;
    }
    const button = path.find((node) => node?.tagName === "BUTTON");
    if (!button || picker.busy) return;
    if (button.classList.contains("close")) this._closePicker();
    else if (button.classList.contains("more")) { this._closePicker(); this._openMoreInfo(picker.entityId); }
    else if (button.classList.contains("assign")) await this._act("assign_spool", { filaman_spool_id: picker.selected });
    else if (button.classList.contains("unassign")) await this._act("unassign_spool", {});
  }

  async _act(service, data) {
    const picker = this._picker;
    const t = textFor(this._hass);
    picker.busy = true;
    picker.status = null;
    this._renderPicker();
    try {
      // The card's own command: a spool the slot cannot take is the user's answer, not an
      // error for Home Assistant's log (as a refused action call from the UI would be).
      await this._hass.callWS({
        type: `${DOMAIN}/set_slot_spool`, device_id: this._config.device_id,
        ams_id: picker.amsId, tray_id: picker.trayId,
        filaman_spool_id: service === "assign_spool" ? data.filaman_spool_id : null,
      });
      const spool = (picker.spools || []).find((item) => item.id === picker.selected);
      const text = service === "assign_spool"
        ? fill(t.picker_done_assign, { spool: spool ? `#${spool.id} ${spool.name}` : `#${picker.selected}`, slot: picker.label })
        : fill(t.picker_done_unassign, { slot: picker.label });
      picker.status = { ok: true, text };
      picker.assigned = service === "assign_spool";
      picker.assignedId = service === "assign_spool" ? picker.selected : null;
    } catch (err) {
      picker.status = { ok: false, text: err?.message || String(err) };
    }
    picker.busy = false;
    if (this._picker === picker) this._renderPicker();
  }

  _closePicker() {
    window.removeEventListener("keydown", this._onKeydown, true);
    if (this._picker) clearTimeout(this._picker.timer);
    this._picker = null;
    this._pickerRendered = "";
    this._pickerHost.innerHTML = "";
  }

  _renderPicker(focus = false) {
    const picker = this._picker;
    if (!picker) return;
    const t = textFor(this._hass);
    const slot = this._slot();
    const tray = slot && !slot.empty
      ? `<span class="p-tray">${escapeHtml([slot.material, slot.color].filter(Boolean).join(" · "))}</span>` : "";
    let current = t.picker_unassigned;
    if (slot?.spoolName) current = fill(t.picker_assigned, { spool: slot.spoolName });
    else if (picker.assigned || slot?.assigned) current = t.picker_foreign;
    let list;
    if (picker.spools === null) list = `<div class="p-empty">${escapeHtml(t.picker_loading)}</div>`;
    else if (!picker.spools.length) list = `<div class="p-empty">${escapeHtml(t.picker_none)}</div>`;
    else {
      list = picker.spools.map((spool) => {
        const meta = [
          spool.material,
          spool.remaining_g !== null && spool.remaining_g !== undefined ? `${this._number(Math.round(spool.remaining_g))} g` : null,
          spool.loaded_in ? fill(t.picker_loaded_in, { slot: spool.loaded_in }) : null,
        ].filter(Boolean).join(" · ");
        const color = safeColor(spool.color);
        const classes = ["row", spool.id === picker.selected ? "selected" : "", spool.rfid_match || spool.material_match ? "fit" : ""];
        return `
          <button class="${classes.filter(Boolean).join(" ")}" type="button" role="option" data-spool-id="${spool.id}"
            aria-selected="${spool.id === picker.selected}">
            <span class="sw"${color ? ` style="--slot-color:${color}"` : ""}></span>
            <span class="name">#${spool.id} ${escapeHtml(spool.name)}</span>
            <span class="meta">${escapeHtml(meta)}</span>
          </button>`;
      }).join("");
    }
    const count = picker.spools && picker.spools.length
      ? `<div class="p-count">${escapeHtml(fill(t.picker_count, { shown: picker.spools.length, total: picker.total }))}</div>` : "";
    const status = picker.status
      ? `<div class="p-status ${picker.status.ok ? "ok" : "error"}" role="status">${escapeHtml(picker.status.text)}</div>`
      : `<div class="p-status" role="status"></div>`;
    const canAssign = !picker.busy && picker.selected !== null && picker.selected !== picker.assignedId;
    const canUnassign = !picker.busy && (picker.assigned || Boolean(slot?.assigned));
    const html = `
      <div class="backdrop">
        <div class="panel" role="dialog" aria-modal="true" aria-label="${escapeHtml(fill(t.picker_title, { slot: picker.label }))}">
          <div class="p-head">
            <span class="p-title">${escapeHtml(fill(t.picker_title, { slot: picker.label }))}</span>${tray}
          </div>
          <div class="p-current">${escapeHtml(current)}</div>
          <input class="search" type="search" placeholder="${escapeHtml(t.picker_search)}" value="${escapeHtml(picker.query)}">
          <div class="list" role="listbox">${list}</div>
          ${count}
          ${status}
          <div class="p-actions">
            <button class="more" type="button">${escapeHtml(t.picker_details)}</button>
            <button class="close" type="button">${escapeHtml(t.picker_close)}</button>
            <button class="unassign" type="button"${canUnassign ? "" : " disabled"}>${escapeHtml(t.picker_unassign)}</button>
            <button class="assign" type="button"${canAssign ? "" : " disabled"}>${escapeHtml(t.picker_assign)}</button>
          </div>
        </div>
      </div>`;
    if (html === this._pickerRendered && !focus) return; // Home Assistant updates often
    this._pickerRendered = html;
    const search = this._pickerHost.querySelector(".search");
    const hadFocus = search && this.shadowRoot.activeElement === search;
    const listScroll = this._pickerHost.querySelector(".list")?.scrollTop || 0;
    this._pickerHost.innerHTML = html;
    const input = this._pickerHost.querySelector(".search");
    this._pickerHost.querySelector(".list").scrollTop = listScroll;
    if (focus || hadFocus) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }

  _printStateText(model, t) {
    if (!model.printState) return "";
    const state = model.printState.state;
    // Home Assistant's own formatter knows the integration's translated enum states.
    const formatted = this._hass.formatEntityState ? this._hass.formatEntityState(model.printState) : "";
    const text = formatted && formatted !== state ? formatted : (t.print_state[state] || state);
    return state === "running" && model.progress !== null ? `${text} ${this._number(model.progress)} %` : text;
  }

  _number(value) {
    const lang = this._hass?.locale?.language || "en";
    try {
      return Number(value).toLocaleString(lang, { maximumFractionDigits: 1 });
    } catch {
      return String(value);
    }
  }
}

if (!customElements.get(CARD_TAG)) {
  customElements.define(CARD_TAG, FilamanBambuddyAmsCard);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD_TAG,
    name: TEXT[languageOf(null)].card_name,
    description: TEXT[languageOf(null)].card_description,
    preview: true,
    documentationURL: "https://github.com/filaman-bambuddy/ha-filaman-bambuddy#dashboard-card",
  });
  console.info(`%c FILAMAN-BAMBUDDY-AMS-CARD %c ${CARD_VERSION} `, "color:#fff;background:#03a9f4", "");
}

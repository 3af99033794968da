// The upload page's script: plain browser JavaScript, no build step, no library. It speaks only
// to the plugin's documented API (openapi.yaml), with URLs relative to the page, so it works
// under any base URL: the page is <base>/outcomes/import, the API <base>/api/v1/.
"use strict";

const API = new URL("../api/v1/", document.baseURI);
const TOKEN_KEY = "lms_outcomes_token";
const ENDED = ["succeeded", "failed", "cancelled"];
const POLL_MS = 500;
const ERRORS_PER_PAGE = 25;
const TREE_PER_PAGE = 100;

const $ = (id) => document.getElementById(id);

const state = {
  context: null, // "accounts/1"
  importJson: null, // the import shown
  pollTimer: null,
  errorLinks: {},
  errorsPage: 1,
};

// -- talking to the API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function apiUrl(path) {
  return new URL(path, API);
}

function contextUrl(path) {
  return apiUrl(`${state.context}/${path}`);
}

// The message of any of the plugin's and Canvas's error bodies.
function messageOf(status, body) {
  if (body && typeof body === "object") {
    if (Array.isArray(body.errors) && body.errors.length && body.errors[0].message) {
      return body.errors[0].message;
    }
    if (typeof body.error === "string") return body.error;
    if (typeof body.message === "string") return body.message;
  }
  return `The server answered ${status}.`;
}

async function request(method, url, {accept = "json"} = {}) {
  const response = await fetch(url, {
    method,
    headers: {Authorization: `Bearer ${token()}`},
  });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // not JSON: the status says enough
    }
    throw new ApiError(response.status, messageOf(response.status, body));
  }
  if (accept === "blob") return response;
  return {body: await response.json(), links: parseLinks(response.headers.get("Link"))};
}

// Canvas's Link header: <url>; rel="next", ... -> {next: url, ...}
function parseLinks(header) {
  const links = {};
  for (const part of (header || "").split(",")) {
    const found = part.match(/<([^>]*)>\s*;\s*rel="?([a-z]+)"?/);
    if (found) links[found[2]] = found[1];
  }
  return links;
}

// Every item of a paginated listing, following its Link header.
async function listAll(url) {
  const items = [];
  let next = url;
  while (next) {
    const {body, links} = await request("GET", next);
    items.push(...body);
    next = links.next;
  }
  return items;
}

// What any failed call does: a refused token signs out; anything else is shown.
function fail(error) {
  if (error instanceof ApiError && error.status === 401 && isTokenRefused(error.message)) {
    signOut();
    say(`Your token was refused: ${error.message} Sign in again.`);
    $("token").focus();
    return;
  }
  say(error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`);
}

function isTokenRefused(message) {
  return message === "Invalid access token." || message === "user authorization required";
}

function say(text) {
  $("message").textContent = text;
}

// -- signing in ------------------------------------------------------------------------------

function showSignedIn(signedIn) {
  $("sign-in-section").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("context-section").hidden = !signedIn;
  if (!signedIn) {
    for (const id of ["upload-section", "import-section", "tree-section"]) $(id).hidden = true;
  }
}

function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  say("");
  showSignedIn(true);
  $("context-id").focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  state.context = null;
  showSignedIn(false);
}

// -- the account or course -------------------------------------------------------------------

async function openContext(event) {
  event.preventDefault();
  const id = $("context-id").value.trim();
  if (!/^[0-9]+$/.test(id)) {
    say("The id is a number.");
    return;
  }
  stopPolling();
  state.context = `${$("context-type").value}/${id}`;
  say("");
  $("import-section").hidden = true;
  const kind = $("context-type").value === "accounts" ? "Account" : "Course";
  try {
    // The latest import says whether the token may import here, and shows what ran last.
    const latest = await latestImport();
    $("context-name").textContent = `${kind} ${id}`;
    $("upload-section").hidden = false;
    $("tree-section").hidden = false;
    if (latest) showImport(latest);
    await loadTree();
    $("file").focus();
  } catch (error) {
    state.context = null;
    $("upload-section").hidden = true;
    $("tree-section").hidden = true;
    fail(error);
  }
}

async function latestImport() {
  try {
    return (await request("GET", contextUrl("outcome_imports/latest"))).body;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && /OutcomeImport/.test(error.message)) {
      return null; // none yet
    }
    throw error;
  }
}

// -- uploading -------------------------------------------------------------------------------

function chosenFile() {
  return $("file").files[0] || null;
}

function showChosen() {
  const file = chosenFile();
  $("file-chosen").textContent = file ? `${file.name} (${formatBytes(file.size)})` : "";
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function dropped(event) {
  event.preventDefault();
  $("drop-zone").classList.remove("over");
  if (!event.dataTransfer.files.length) return;
  $("file").files = event.dataTransfer.files;
  showChosen();
}

function startUpload(event) {
  event.preventDefault();
  const file = chosenFile();
  if (!file || !state.context) return;
  const query = new URLSearchParams({
    import_type: $("import-type").value.trim(),
    encoding: $("encoding").value,
    dry_run: $("dry-run").checked ? "true" : "false",
  });
  const url = contextUrl(`outcome_imports?${query}`);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
  // A raw upload: the file's own type (Canvas's other style is a multipart form).
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  xhr.upload.addEventListener("progress", (progress) => {
    if (progress.lengthComputable) showUpload(progress.loaded, progress.total);
  });
  xhr.addEventListener("load", () => uploaded(xhr, file));
  xhr.addEventListener("error", () => uploadFailed(
    "The upload failed: the connection was closed before the server answered."));
  say("");
  $("start").disabled = true;
  showUpload(0, file.size);
  xhr.send(file);
}

function showUpload(loaded, total) {
  const percent = total ? Math.floor((loaded / total) * 100) : 100;
  $("upload-progress").value = percent;
  $("upload-text").textContent = `${percent}% of ${formatBytes(total)}`;
}

function uploaded(xhr, file) {
  $("start").disabled = false;
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch (_) {
    // not JSON
  }
  if (xhr.status !== 200) {
    uploadFailed(null);
    fail(new ApiError(xhr.status, messageOf(xhr.status, body)));
    return;
  }
  showUpload(file.size, file.size);
  showImport(body);
  $("import-heading").focus();
}

function uploadFailed(text) {
  $("start").disabled = false;
  $("upload-text").textContent = "Not uploaded";
  if (text) say(text);
}

// -- watching an import ----------------------------------------------------------------------

function importUrl(json, path = "") {
  return contextUrl(`outcome_imports/${json.id}${path}`);
}

function showImport(json) {
  const before = state.importJson;
  state.importJson = json;
  $("import-section").hidden = false;
  const kind = json.data && json.data.import_type === "revert" ? "Revert" : "Import";
  const reverts = json.reverts ? ` of import ${json.reverts}` : "";
  const dry = json.dry_run ? " (dry run)" : "";
  $("import-heading").textContent = `${kind} ${json.id}${reverts}${dry}`;
  $("import-progress").value = json.progress;
  $("import-percent").textContent = `${json.progress}%`;
  $("live").textContent = liveText(json, kind);
  $("cancel").hidden = ENDED.includes(json.workflow_state) || Boolean(json.cancel_requested);
  $("revert").hidden = !(json.workflow_state === "succeeded" && !json.dry_run && !json.reverted_by
    && kind === "Import");
  showCounts(json.counts);
  showWarnings(json.warnings || []);
  const ended = ENDED.includes(json.workflow_state);
  const justEnded = ended && !(before && before.id === json.id && ENDED.includes(before.workflow_state));
  if (!before || before.id !== json.id || justEnded) {
    $("errors-csv").href = importUrl(json, "/errors.csv");
    loadErrors(importUrl(json, `/errors?per_page=${ERRORS_PER_PAGE}`), 1);
  }
  if (ended) {
    stopPolling();
    if (justEnded && before) loadTree();
  } else {
    poll();
  }
}

function liveText(json, kind) {
  const name = `${kind} ${json.id}`;
  const cancel = json.cancel_requested && !ENDED.includes(json.workflow_state)
    ? " (cancel requested)" : "";
  const reverted = json.reverted_by ? `, reverted by import ${json.reverted_by}` : "";
  const counts = json.counts;
  const rows = counts && ENDED.includes(json.workflow_state)
    ? `: ${counts.rows} rows, ${counts.rows_with_errors} with errors` : "";
  return `${name}: ${json.workflow_state}${cancel}, ${json.progress}%${rows}${reverted}`;
}

function poll() {
  if (state.pollTimer) return;
  const json = state.importJson;
  state.pollTimer = setTimeout(async () => {
    state.pollTimer = null;
    if (!state.importJson || state.importJson.id !== json.id) return;
    try {
      showImport((await request("GET", importUrl(json))).body);
    } catch (error) {
      fail(error);
    }
  }, POLL_MS);
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function showCounts(counts) {
  const body = $("counts").tBodies[0];
  body.replaceChildren();
  if (!counts) return;
  $("rows").textContent = `${counts.rows} rows, ${counts.rows_with_errors} with errors`;
  const lines = [
    ["Groups", counts.groups],
    ["Outcomes", counts.outcomes],
    ["Links", {created: counts.links.created, deleted: counts.links.deleted}],
  ];
  for (const [name, values] of lines) {
    const row = body.insertRow();
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = name;
    row.append(head);
    for (const key of ["created", "updated", "unchanged", "deleted"]) {
      row.insertCell().textContent = key in values ? values[key] : "–";
    }
  }
}

function showWarnings(warnings) {
  $("warnings").replaceChildren(...warnings.map(([row, message]) => {
    const item = document.createElement("li");
    item.textContent = `Row ${row}: ${message}`;
    return item;
  }));
  if (!warnings.length) $("warnings").replaceChildren(textItem("None."));
}

function textItem(text) {
  const item = document.createElement("li");
  item.textContent = text;
  return item;
}

async function loadErrors(url, page) {
  try {
    const {body, links} = await request("GET", url);
    state.errorLinks = links;
    state.errorsPage = page;
    const rows = $("errors").tBodies[0];
    rows.replaceChildren();
    for (const [row, message] of body) {
      const line = rows.insertRow();
      line.insertCell().textContent = row;
      line.insertCell().textContent = message;
    }
    const last = links.last ? Number(new URL(links.last).searchParams.get("page")) : page;
    $("errors-page").textContent = `Page ${page} of ${Math.max(last, page)}`;
    $("no-errors").hidden = body.length > 0 || page > 1;
    $("errors-found").hidden = !$("no-errors").hidden;
    $("errors-previous").disabled = !links.prev;
    $("errors-next").disabled = !links.next;
  } catch (error) {
    fail(error);
  }
}

function pageOfErrors(direction) {
  const url = state.errorLinks[direction];
  if (url) loadErrors(url, state.errorsPage + (direction === "next" ? 1 : -1));
}

// A link cannot carry the token: fetch the file with it and hand the browser the bytes.
async function download(url, fallbackName) {
  try {
    const response = await request("GET", url, {accept: "blob"});
    const disposition = response.headers.get("Content-Disposition") || "";
    const named = disposition.match(/filename="?([^";]+)"?/);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = named ? named[1] : fallbackName;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  } catch (error) {
    fail(error);
  }
}

async function cancelImport() {
  try {
    showImport((await request("DELETE", importUrl(state.importJson))).body);
  } catch (error) {
    fail(error);
  }
}

async function revertImport() {
  try {
    stopPolling();
    showImport((await request("POST", importUrl(state.importJson, "/revert"))).body);
    $("import-heading").focus();
  } catch (error) {
    fail(error);
  }
}

// -- the tree --------------------------------------------------------------------------------

async function loadTree() {
  const tree = $("tree");
  try {
    const {body: root} = await request("GET", contextUrl("root_outcome_group"));
    const list = document.createElement("ul");
    list.className = "tree";
    const node = groupNode(root);
    list.append(node);
    tree.replaceChildren(list);
    const details = node.querySelector("details");
    details.open = true;
    await loadGroup(details, root.id);
  } catch (error) {
    fail(error);
  }
}

function groupNode(group) {
  const item = document.createElement("li");
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = group.title;
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (details.open && !details.dataset.loaded) loadGroup(details, group.id);
  });
  item.append(details);
  return item;
}

async function loadGroup(details, groupId) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "yes";
  const per = `?per_page=${TREE_PER_PAGE}`;
  try {
    const [groups, links] = await Promise.all([
      listAll(contextUrl(`outcome_groups/${groupId}/subgroups${per}`)),
      listAll(contextUrl(`outcome_groups/${groupId}/outcomes${per}`)),
    ]);
    const list = document.createElement("ul");
    for (const group of groups) list.append(groupNode(group));
    for (const link of links) {
      const item = textItem(link.outcome.title);
      item.className = "outcome";
      list.append(item);
    }
    if (!groups.length && !links.length) list.append(textItem("Empty."));
    details.append(list);
  } catch (error) {
    delete details.dataset.loaded;
    fail(error);
  }
}

// -- wiring ----------------------------------------------------------------------------------

function wire() {
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => {
    signOut();
    $("token").focus();
  });
  $("context-form").addEventListener("submit", openContext);
  $("upload-form").addEventListener("submit", startUpload);
  $("file").addEventListener("change", showChosen);
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", dropped);
  // A file dropped beside the zone must not replace the page with the file.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => event.preventDefault());
  $("cancel").addEventListener("click", cancelImport);
  $("revert").addEventListener("click", revertImport);
  $("errors-previous").addEventListener("click", () => pageOfErrors("prev"));
  $("errors-next").addEventListener("click", () => pageOfErrors("next"));
  $("errors-csv").addEventListener("click", (event) => {
    event.preventDefault();
    download(event.currentTarget.href, `outcome_import_${state.importJson.id}_errors.csv`);
  });
  $("export").addEventListener("click", () => download(contextUrl("outcome_export"),
    "outcome_export.csv"));
  $("tree-reload").addEventListener("click", loadTree);
  showSignedIn(Boolean(token()));
}

wire();

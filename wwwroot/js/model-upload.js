// Model uploads go over plain HTTP (XMLHttpRequest) instead of the Blazor circuit: the browser streams the file at
// disk speed and reports progress, and the server writes it straight to disk. .NET only hears about progress.

export function attachDropZone(zone, input, dotnet) {
    const choose = file => {
        if (!file) return;
        zone._maasFile = file;
        dotnet.invokeMethodAsync('FileChosen', file.name, file.size);
    };
    const stop = e => { e.preventDefault(); e.stopPropagation(); };
    ['dragenter', 'dragover'].forEach(type => zone.addEventListener(type, e => { stop(e); zone.classList.add('dragging'); }));
    ['dragleave', 'drop'].forEach(type => zone.addEventListener(type, e => { stop(e); zone.classList.remove('dragging'); }));
    zone.addEventListener('drop', e => choose(e.dataTransfer?.files?.[0]));
    input.addEventListener('change', () => choose(input.files?.[0]));
    // The panel is on screen, its "Choose a file" working, two round trips before this runs (the module's import,
    // then this call); on a slow link a file picked in between would otherwise be ignored.
    choose(input.files?.[0]);
    // From here on drops and picks are heard (browser tests wait for it).
    zone.dataset.ready = 'true';
}

export function startUpload(zone, labelsInput, url, token, fields, dotnet) {
    const file = zone._maasFile;
    if (!file) return false;
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) {
        if (value) form.append(key, value);
    }
    const labels = labelsInput?.files?.[0];
    if (labels) form.append('labels', labels, labels.name);
    form.append('file', file, file.name);

    const xhr = new XMLHttpRequest();
    zone._maasXhr = xhr;
    let last = 0;
    xhr.upload.onprogress = e => {
        const now = performance.now();
        // A few updates a second are enough for people and keep the circuit quiet.
        if (now - last > 250 || e.loaded === e.total) {
            last = now;
            dotnet.invokeMethodAsync('Progress', e.loaded, e.total);
        }
    };
    xhr.onload = () => dotnet.invokeMethodAsync('Completed', xhr.status, answerFor(xhr));
    xhr.onerror = () => dotnet.invokeMethodAsync('Completed', 0, '');
    xhr.onabort = () => dotnet.invokeMethodAsync('Completed', -1, '');
    xhr.open('POST', url);
    xhr.setRequestHeader('RequestVerificationToken', token);
    xhr.send(form);
    return true;
}

// What the panel needs of the answer, and no more: the circuit takes messages of up to 32 KB, and a big model's answer
// (its signature and operator counts) may be longer. A new version: its model's slug and number; a refusal: its words.
function answerFor(xhr) {
    try {
        const body = JSON.parse(xhr.responseText);
        if (xhr.status === 201) return JSON.stringify({ model: { slug: body.model.slug }, version: { version: body.version.version } });
        return JSON.stringify({ detail: String(body.detail ?? '').slice(0, 4000) });
    } catch {
        return '';
    }
}

export function cancelUpload(zone) {
    zone._maasXhr?.abort();
}

export function clearFile(zone, input) {
    zone._maasFile = null;
    if (input) input.value = '';
}

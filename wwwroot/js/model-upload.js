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
    xhr.onload = () => dotnet.invokeMethodAsync('Completed', xhr.status, xhr.responseText);
    xhr.onerror = () => dotnet.invokeMethodAsync('Completed', 0, '');
    xhr.onabort = () => dotnet.invokeMethodAsync('Completed', -1, '');
    xhr.open('POST', url);
    xhr.setRequestHeader('RequestVerificationToken', token);
    xhr.send(form);
    return true;
}

export function cancelUpload(zone) {
    zone._maasXhr?.abort();
}

export function clearFile(zone, input) {
    zone._maasFile = null;
    if (input) input.value = '';
}

// The portal's own browser code. Kept tiny: Blazor Server does the work on the server.

// The browser's time zone (IANA id), so cost charts bucket days where the reader lives.
window.maasTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

// Saves text the server built (a CSV export) as a file, without a second request.
window.maasDownload = (fileName, contentType, text) => {
    const url = URL.createObjectURL(new Blob([text], { type: contentType }));
    const link = document.createElement("a");
    link.href = url;
    link.download = fileName;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
};

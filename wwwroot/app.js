// The portal's own browser code. Kept tiny: Blazor Server does the work on the server.

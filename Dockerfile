# Multi-stage: build a static binary, ship it on distroless as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stepgate ./cmd/stepgate
# The data dir must exist and belong to the non-root user before it is
# declared a volume, or Docker creates it owned by root and unwritable.
RUN mkdir -p /out/data/stepgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/stepgate /usr/local/bin/stepgate
COPY --from=build --chown=65532:65532 /out/data/stepgate /var/lib/stepgate
# The data dir holds the SQLite store, the generated key and certificate;
# mount a volume here.
ENV XDG_DATA_HOME=/var/lib
VOLUME ["/var/lib/stepgate"]
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/stepgate"]
CMD ["serve"]

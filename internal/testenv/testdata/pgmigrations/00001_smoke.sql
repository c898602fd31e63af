-- +goose Up
CREATE TABLE smoke (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE smoke;

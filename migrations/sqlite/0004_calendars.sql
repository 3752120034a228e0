-- Business-hours calendars set through PUT /v1/accounts/{account}/calendar
-- (SPEC §3's JSON form of one account's calendar); they override the
-- `--calendar` file for their account.
CREATE TABLE calendars (
    account       TEXT    PRIMARY KEY,
    calendar      TEXT    NOT NULL,
    updated_at_us INTEGER NOT NULL
);

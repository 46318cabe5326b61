/* The manager's page: phone check as it is typed, live notification status, small helpers.
   No framework and no build step; every request carries the page's CSRF token. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";
  var SESSION_ENDED = "session-ended";

  function formatTime(value) {
    var date = new Date(value);
    if (isNaN(date.getTime())) {
      return null;
    }
    return date.toLocaleString("ru-RU", {
      day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit"
    });
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      var text = formatTime(element.getAttribute("datetime"));
      if (text) {
        element.textContent = text;
      }
    });
  }

  function paragraph(className, text) {
    var element = document.createElement("p");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function link(href, text, role) {
    var element = document.createElement("a");
    element.href = href;
    element.textContent = text;
    element.setAttribute("data-role", role);
    return element;
  }

  function getJson(response) {
    if (response.status === 401) {
      throw new Error(SESSION_ENDED);
    }
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    return response.json();
  }

  /* «Новый клиент»: the phone is checked on the server as it is typed (debounced). */
  function setupPhoneCheck(input) {
    var url = input.getAttribute("data-phone-check");
    var status = document.getElementById("phone-status");
    var timer = null;
    var lastChecked = null;
    var sequence = 0;

    function show(state, nodes) {
      status.setAttribute("data-state", state);
      status.replaceChildren.apply(status, nodes);
      if (state === "invalid") {
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
    }

    function render(answer) {
      if (answer.state === "invalid") {
        show("invalid", [paragraph("field__error", answer.message)]);
      } else if (answer.state === "new") {
        show("new", [paragraph("phone-status__ok", "Номер: " + answer.phone), paragraph("field__hint", answer.message)]);
      } else if (answer.state === "client") {
        var links = document.createElement("p");
        links.className = "phone-status__links";
        links.append(link(answer.card_url, "Открыть карточку", "card-link"), link(answer.edit_url, "Обновить данные", "edit-link"));
        show("client", [
          paragraph("field__error", answer.message),
          paragraph("phone-status__who", answer.first_name + ", клиент №" + answer.client_id + " · " + answer.phone),
          links
        ]);
      } else if (answer.state === "person") {
        show("person", [paragraph("field__error", answer.message), paragraph("field__hint", "Номер: " + answer.phone)]);
      } else {
        show("", []);
      }
    }

    function check(force) {
      var value = input.value.trim();
      var digits = (value.match(/\d/g) || []).length;
      if (!value) {
        lastChecked = null;
        sequence += 1;
        show("", []);
        return;
      }
      if (value === lastChecked || (!force && digits < 10)) {
        return;  /* unchanged, or still being typed: checked when it is long enough or the field is left */
      }
      lastChecked = value;
      sequence += 1;
      var mine = sequence;
      status.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken},
        body: JSON.stringify({phone: value})
      }).then(getJson).then(function (answer) {
        if (mine === sequence) {
          render(answer);
        }
      }).catch(function (error) {
        if (mine !== sequence) {
          return;
        }
        lastChecked = null;
        show("error", [paragraph("field__error", error.message === SESSION_ENDED
          ? "Сессия истекла — обновите страницу и войдите снова"
          : "Не удалось проверить номер; он будет проверен при регистрации")]);
      }).finally(function () {
        if (mine === sequence) {
          status.removeAttribute("aria-busy");
        }
      });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { check(false); }, 400);
    });
    input.addEventListener("change", function () {
      window.clearTimeout(timer);
      check(true);
    });
    if (input.value.trim() && !status.getAttribute("data-state")) {
      check(true);
    }
  }

  /* A channel that needs the client's account (VK) shows its account field only when picked. */
  function setupAccountFields(form) {
    var radios = form.querySelectorAll('input[type="radio"][name="channel"]');
    function update() {
      var picked = form.querySelector('input[type="radio"][name="channel"]:checked');
      form.querySelectorAll("[data-account-for]").forEach(function (field) {
        field.hidden = !picked || picked.value !== field.getAttribute("data-account-for");
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }

  function setupBusyButton(form) {
    var button = form.querySelector("button[data-busy-text]");
    if (!button) {
      return;
    }
    var idle = button.textContent;
    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = button.getAttribute("data-busy-text");
    });
    window.addEventListener("pageshow", function () {
      button.disabled = false;
      button.textContent = idle;
    });
  }

  /* A notification's status changes on the page by itself: scheduled → sent → delivered / failed. */
  function watchNotification(element) {
    var url = element.getAttribute("data-url");
    var started = Date.now();
    var label = element.querySelector('[data-role="label"]');
    var detail = element.querySelector('[data-role="detail"]');
    var channel = element.querySelector('[data-role="channel"]');
    var time = element.querySelector('[data-role="time"]');
    var resend = element.querySelector('[data-role="resend"]');

    function apply(state) {
      element.setAttribute("data-status", state.status);
      element.setAttribute("data-live", state.live ? "true" : "false");
      label.textContent = state.status_label;
      label.className = "badge badge--" + state.status;
      detail.textContent = state.detail;
      channel.textContent = state.channel_title;
      time.setAttribute("datetime", state.updated_at);
      time.textContent = formatTime(state.updated_at) || state.updated_at;
      if (resend) {
        resend.hidden = !state.needs_attention;
      }
    }

    function next() {
      var age = Date.now() - started;
      if (age > 15 * 60 * 1000) {
        return;  /* a quarter of an hour is enough: reload the page to look again */
      }
      window.setTimeout(poll, age < 20000 ? 1000 : (age < 120000 ? 3000 : 10000));
    }

    function poll() {
      fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(getJson)
        .then(function (state) {
          apply(state);
          if (state.live) {
            next();
          }
        })
        .catch(function (error) {
          if (error.message === SESSION_ENDED) {
            detail.textContent = "Сессия истекла — войдите снова, чтобы видеть статус";
            return;
          }
          next();
        });
    }

    next();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    document.querySelectorAll("input[data-phone-check]").forEach(setupPhoneCheck);
    document.querySelectorAll("form[data-registration-form]").forEach(function (form) {
      setupAccountFields(form);
      setupBusyButton(form);
    });
    document.querySelectorAll('[data-notification][data-live="true"]').forEach(watchNotification);
  });
}());
